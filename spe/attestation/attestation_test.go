package attestation_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/attestation"
	"rampart/spe/storage"
	"rampart/swcomponent"
)

var (
	huk      = bytes.Repeat([]byte{0x11}, 32)
	implID   = bytes.Repeat([]byte{0xa5}, 32)
	records  = []swcomponent.Component{{MeasurementType: "SPE", MeasurementValue: sum("spe image"), Version: "1.2.3+4", SignerID: sum("key"), MeasurementDescription: "sha-256"}}
	certRef  = "0604565272829-10010"
	secured  = attest.LifecycleSecured
	nonce32  = bytes.Repeat([]byte{1}, 32)
	lifeFunc = func() attest.Lifecycle { return secured }
)

func sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

type rig struct {
	svc *attestation.Service
	pub *ecdsa.PublicKey
	c   *psaclient.Attestation
}

func newBenchRig(b *testing.B) *rig {
	return newRig(b, elliptic.P256())
}

func newRig(t testing.TB, curve elliptic.Curve) *rig {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attestation.Provision(st, huk, curve, attestation.Identity{ImplementationID: implID, CertificationReference: certRef}, randReader{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attestation.Provision(st, huk, curve, attestation.Identity{ImplementationID: implID}, randReader{}); !errors.Is(err, attestation.ErrProvisioned) {
		t.Fatalf("second provisioning: %v", err)
	}
	svc, err := attestation.New(attestation.Options{Store: st, HUK: huk, Lifecycle: func() attest.Lifecycle { return secured },
		BootRecords: func() []swcomponent.Component { return records }})
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := srv.Local(-5)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewAttestation(l)
	t.Cleanup(func() { c.Close() })
	return &rig{svc, pub, c}
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return len(p), nil
}

func TestTokenVerifies(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		r := newRig(t, curve)
		for _, n := range []int{32, 48, 64} {
			nonce := bytes.Repeat([]byte{byte(n)}, n)
			tok, err := r.c.Token(nonce)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := attest.Verify(tok, attest.VerifyOptions{Key: r.pub, Nonce: nonce})
			if err != nil {
				t.Fatalf("%s nonce %d: %v", curve.Params().Name, n, err)
			}
			if cl.Profile != attest.ProfileRFC9783 || cl.ClientID != -5 || cl.Lifecycle != secured ||
				!bytes.Equal(cl.ImplementationID, implID) || cl.CertificationReference != certRef || len(cl.BootSeed) != 32 {
				t.Fatalf("claims %+v", cl)
			}
			if len(cl.SoftwareComponents) != 1 || !bytes.Equal(cl.SoftwareComponents[0].MeasurementValue, records[0].MeasurementValue) ||
				cl.SoftwareComponents[0].Version != "1.2.3+4" || !bytes.Equal(cl.SoftwareComponents[0].SignerID, records[0].SignerID) {
				t.Fatalf("software components %+v", cl.SoftwareComponents)
			}
			want, _ := attest.InstanceID(r.pub)
			if !bytes.Equal(cl.InstanceID, want) {
				t.Fatal("instance ID is not 0x01 || SHA-256(IAK)")
			}
			size, err := r.c.TokenSize(n, psa.AttestProfileRFC9783)
			if err != nil || size != len(tok) {
				t.Fatalf("token size %d, token %d, %v", size, len(tok), err)
			}
		}
		tok, err := r.c.TokenProfile(nonce32, psa.AttestProfileIoT1)
		if err != nil {
			t.Fatal(err)
		}
		if cl, err := attest.Verify(tok, attest.VerifyOptions{Key: r.pub, Nonce: nonce32, Profiles: []attest.Profile{attest.ProfileIoT1}}); err != nil || cl.Profile != attest.ProfileIoT1 {
			t.Fatalf("IoT profile: %v", err)
		}
		pk, err := r.c.PublicKey()
		ecdhPub, _ := r.pub.ECDH()
		if err != nil || !bytes.Equal(pk, ecdhPub.Bytes()) {
			t.Fatalf("public key %x %v", pk, err)
		}
	}
}

func TestBadChallengesAndProfiles(t *testing.T) {
	r := newRig(t, elliptic.P256())
	for _, n := range []int{0, 1, 16, 31, 33, 47, 49, 63, 65, 128} {
		if _, err := r.c.Token(make([]byte, n)); !errors.Is(err, ipc.ErrInvalidArgument) {
			t.Errorf("challenge of %d bytes: %v", n, err)
		}
		if _, err := r.c.TokenSize(n, 0); !errors.Is(err, ipc.ErrInvalidArgument) {
			t.Errorf("size for challenge of %d bytes: %v", n, err)
		}
	}
	if _, err := r.c.TokenProfile(nonce32, 9); !errors.Is(err, ipc.ErrNotSupported) {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestSmallBuffer(t *testing.T) {
	r := newRig(t, elliptic.P256())
	m := &spe.Message{Client: -1, Type: int32(psa.AttestOpGetToken), In: [][]byte{nonce32}, OutSize: []uint32{64}}
	if st := r.svc.Call(m); st != ipc.ErrBufferTooSmall {
		t.Fatalf("64-byte buffer: %v", st)
	}
}

func TestLifecycleGate(t *testing.T) {
	r := newRig(t, elliptic.P256())
	defer func() { secured = attest.LifecycleSecured }()
	for _, s := range []attest.Lifecycle{0x0000, 0x1000, 0x2000, 0x6000} {
		secured = s
		if _, err := r.c.Token(nonce32); !errors.Is(err, ipc.ErrBadState) {
			t.Errorf("lifecycle %s: %v", s, err)
		}
	}
	for _, s := range []attest.Lifecycle{0x3000, 0x4000, 0x5000} {
		secured = s
		if _, err := r.c.Token(nonce32); err != nil {
			t.Errorf("lifecycle %s: %v", s, err)
		}
	}
}

func TestNotProvisioned(t *testing.T) {
	st, _ := storage.Open(t.TempDir(), storage.Options{})
	svc, err := attestation.New(attestation.Options{Store: st, HUK: huk, Lifecycle: lifeFunc, BootRecords: func() []swcomponent.Component { return records }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Token(-1, nonce32, attest.ProfileRFC9783); !errors.Is(err, ipc.ErrServiceFailure) {
		t.Fatalf("unprovisioned: %v", err)
	}
	// An IAK sealed under another HUK does not load.
	if _, err := attestation.Provision(st, bytes.Repeat([]byte{9}, 32), elliptic.P256(), attestation.Identity{ImplementationID: implID}, randReader{}); err != nil {
		t.Fatal(err)
	}
	if _, err := attestation.New(attestation.Options{Store: st, HUK: huk, Lifecycle: lifeFunc, BootRecords: func() []swcomponent.Component { return records }}); err == nil {
		t.Fatal("IAK sealed under another HUK loaded")
	}
}

// TestConcurrentTokensAndReload runs token requests beside reloads of the
// key (as provisioning and decommissioning do); run it with -race.
func TestConcurrentTokensAndReload(t *testing.T) {
	r := newRig(t, elliptic.P256())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			if err := r.svc.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		tok, err := r.svc.Token(int32(-1-i), nonce32, attest.ProfileRFC9783)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.Verify(tok, attest.VerifyOptions{Key: r.pub, Nonce: nonce32}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
}
