package deviceproto_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	. "rampart/deviceproto"
	"rampart/deviceproto/deviceprototest"
)

// signRaw makes a job message of any payload with any key and
// certificate: what a forger can build.
func signRaw(t testing.TB, key crypto.Signer, cert *x509.Certificate, payload []byte) []byte {
	t.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = JobContentType
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = cert.Raw
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// genuinePayload is the JSON the job signer of w would sign for dev-a now.
func genuinePayload(t testing.TB, w *deviceprototest.Fleet, edit func(*Job)) []byte {
	t.Helper()
	j := w.Job
	j.Device, j.Nonce, j.Issued, j.Expires = "dev-a", make([]byte, 32), w.Now.UnixMilli(), w.Now.Add(time.Hour).UnixMilli()
	if edit != nil {
		edit(&j)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignedJobRoundTrip(t *testing.T) {
	w := deviceprototest.New(t)
	msg := w.Sign(t, "dev-a", w.Job)
	j, err := VerifyJob(msg, w.Policy())
	if err != nil {
		t.Fatal(err)
	}
	want := w.Job
	want.Device, want.Nonce, want.Issued, want.Expires = "dev-a", j.Nonce, w.Now.UnixMilli(), w.Now.Add(DefaultJobTTL).UnixMilli()
	if !j.Equal(want) || len(j.Nonce) != 32 {
		t.Fatalf("verified job %+v, want %+v", j, want)
	}
	// Issued strictly increases, even within one millisecond.
	j2, err := VerifyJob(w.Sign(t, "dev-a", w.Job), w.Policy())
	if err != nil || j2.Issued <= j.Issued {
		t.Fatalf("second job issued %d after %d (%v)", j2.Issued, j.Issued, err)
	}
	for i := range len(msg) {
		if _, err := DecodeJob(msg[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
	// The signer refuses what no agent accepts.
	bad := w.Job
	bad.URL = "http://fleet.example:8443/images/abc"
	if _, err := w.Signer.Sign("dev-a", bad); !errors.Is(err, ErrJobURL) {
		t.Fatalf("signer signed a plain http job: %v", err)
	}
}

// TestJobRefusals: every job a device must not act on is refused with the
// reason: unsigned (the format before signing), signed by a key that is not
// the fleet's job signer (a device's own key and certificate, the server's
// TLS key, another CA's job signer), altered after signing, for another
// device, expired, or pointing outside the fleet's https endpoints.
func TestJobRefusals(t *testing.T) {
	w := deviceprototest.New(t)
	other := deviceprototest.New(t) // another fleet: its own CA and job signer
	genuine := w.Sign(t, "dev-a", w.Job)
	flipped := append([]byte(nil), genuine...)
	flipped[len(flipped)-70] ^= 1 // inside the payload
	sigFlip := append([]byte(nil), genuine...)
	sigFlip[len(sigFlip)-1] ^= 1
	unsigned := genuinePayload(t, w, nil)
	otherCA := other.Sign(t, "dev-a", other.Job)
	w.Now = w.Now.Add(time.Millisecond)
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"unsigned JSON job", unsigned, ErrJobEnvelope},
		{"signed by a device key and certificate", signRaw(t, w.DeviceKey, w.Device, genuinePayload(t, w, nil)), ErrJobSignature},
		{"signed by the server's TLS key", signRaw(t, w.ServerKey, w.Server, genuinePayload(t, w, nil)), ErrJobSignature},
		{"signed by another fleet's job signer", otherCA, ErrJobSignature},
		{"signer certificate with another key", signRaw(t, deviceprototest.Key(t), w.Signer.Cert, genuinePayload(t, w, nil)), ErrJobSignature},
		{"payload altered", flipped, nil},
		{"signature altered", sigFlip, ErrJobSignature},
		{"for another device", w.Sign(t, "dev-b", w.Job), ErrJobDevice},
		{"expired", signRaw(t, w.Signer.Key, w.Signer.Cert, genuinePayload(t, w, func(j *Job) { j.Issued, j.Expires = j.Issued-7200_000, j.Issued-1 })), ErrJobExpired},
		{"plain http", signRaw(t, w.Signer.Key, w.Signer.Cert, genuinePayload(t, w, func(j *Job) { j.URL = "http://fleet.example:8443/images/abc" })), ErrJobURL},
		{"another host", w.Sign(t, "dev-a", func() Job { j := w.Job; j.URL = "https://evil.example/v2.bin"; return j }()), ErrJobURL},
		{"another port", w.Sign(t, "dev-a", func() Job { j := w.Job; j.URL = "https://fleet.example:9443/v2.bin"; return j }()), ErrJobURL},
		{"empty", nil, ErrJobEnvelope},
		{"oversized", append([]byte{0xd2}, make([]byte, MaxJobSize)...), ErrJobEnvelope},
	}
	for _, tc := range cases {
		_, err := VerifyJob(tc.msg, w.Policy())
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		case !strings.HasPrefix(err.Error(), "deviceproto: job"):
			t.Errorf("%s: error %q lacks the package", tc.name, err)
		}
	}
	// The clock past the expiry refuses a genuine job too.
	w.Now = w.Now.Add(DefaultJobTTL + time.Minute)
	if _, err := VerifyJob(genuine, w.Policy()); !errors.Is(err, ErrJobExpired) && !errors.Is(err, ErrJobSignature) {
		t.Fatalf("job past its expiry: %v", err)
	}
}

// TestJobEndpointsOfTheSigner: the job signer's certificate may name other
// https download endpoints; only those, and the enrollment endpoint, pass.
func TestJobEndpointsOfTheSigner(t *testing.T) {
	w := deviceprototest.New(t, "https://cdn.example:8444")
	for url, ok := range map[string]bool{
		"https://cdn.example:8444/v2.bin":  true,
		"https://CDN.example:8444/v2.bin":  true,
		"https://fleet.example:8443/x":     true,
		"https://cdn.example/v2.bin":       false,
		"https://cdn.example:8445/v2.bin":  false,
		"https://fleet.example.evil/x":     false,
		"https://cdn.example:8444@evil/x":  false,
		"https://evil.example/cdn.example": false,
	} {
		j := w.Job
		j.URL = url
		msg, err := w.Signer.Sign("dev-a", j)
		if err == nil {
			_, err = VerifyJob(msg, w.Policy())
		}
		if (err == nil) != ok {
			t.Errorf("%s: %v, want accepted %v", url, err, ok)
		}
	}
	// An endpoint the certificate names with another scheme is none: the
	// device goes only where the CA certified https (fleet/ca refuses to
	// certify anything else; the device does not rely on it).
	key := deviceprototest.Key(t)
	w.Signer = &JobSigner{Key: key, Cert: w.IssueJobSigner(t, key, "http://cdn.example:8444"), Now: func() time.Time { return w.Now }}
	j := w.Job
	j.URL = "https://cdn.example:8444/v2.bin"
	if _, err := VerifyJob(w.Sign(t, "dev-a", j), w.Policy()); !errors.Is(err, ErrJobURL) {
		t.Fatalf("an endpoint certified as http: %v", err)
	}
}

// TestJobSignerSetCert: a certificate set while the signer is in use
// (the same key, other endpoints) is the one the jobs signed after carry;
// jobs signed before keep theirs.
func TestJobSignerSetCert(t *testing.T) {
	w := deviceprototest.New(t)
	key := deviceprototest.Key(t)
	w.Signer = &JobSigner{Key: key, Cert: w.IssueJobSigner(t, key), Now: func() time.Time { return w.Now }}
	j := w.Job
	j.URL = "https://node2.example:8443/v2.bin"
	before, err := w.Signer.Sign("dev-a", j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJob(before, w.Policy()); !errors.Is(err, ErrJobURL) {
		t.Fatalf("an endpoint not yet certified: %v", err)
	}
	w.Signer.SetCert(w.IssueJobSigner(t, key, "https://node2.example:8443"))
	after, err := w.Signer.Sign("dev-a", j)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJob(after, w.Policy()); err != nil {
		t.Fatalf("the endpoint certified by the new certificate: %v", err)
	}
	if w.Signer.Certificate() == w.Signer.Cert {
		t.Fatal("Certificate is still the first")
	}
}

// FuzzVerifyJob feeds the verifier mutated job messages (seeded with a
// genuine one): it must never panic, and whatever it accepts must be the
// genuine job (only the ignored unprotected header may differ).
func FuzzVerifyJob(f *testing.F) {
	w := deviceprototest.New(f)
	genuine := w.Sign(f, "dev-a", w.Job)
	want, err := VerifyJob(genuine, w.Policy())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(genuinePayload(f, w, nil))
	f.Add(signRaw(f, w.DeviceKey, w.Device, genuinePayload(f, w, nil)))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeJob(b)
		if err != nil {
			return
		}
		if err := s.Job.Validate(); err != nil {
			t.Fatalf("decoded job does not validate: %v", err)
		}
		if err := s.Verify(w.Policy()); err != nil {
			return
		}
		if !s.Job.Equal(want) {
			t.Fatalf("accepted a job other than the genuine one: %+v", s.Job)
		}
	})
}

// BenchmarkSignJob is the server's cost per job published.
func BenchmarkSignJob(b *testing.B) {
	w := deviceprototest.New(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Signer.Sign("dev-a", w.Job); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJob is the device's cost per job message: the signer's
// chain and the COSE signature (two ECDSA verifications).
func BenchmarkVerifyJob(b *testing.B) {
	w := deviceprototest.New(b)
	msg := w.Sign(b, "dev-a", w.Job)
	p := w.Policy()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyJob(msg, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEveryMessageCarriesTheRenewedCert: after SetCert, trust and transfer
// messages carry the new certificate like jobs do (they were signed with
// the first one: one envelope, JobSigner.seal, now makes all three).
func TestEveryMessageCarriesTheRenewedCert(t *testing.T) {
	w := deviceprototest.New(t)
	key := deviceprototest.Key(t)
	w.Signer = &JobSigner{Key: key, Cert: w.IssueJobSigner(t, key), Now: func() time.Time { return w.Now }}
	renewed := w.IssueJobSigner(t, key, "https://node2.example:8443")
	w.Signer.SetCert(renewed)
	trust, err := w.Signer.SignTrust("dev-a", Trust{ID: "ca-gen2", Anchors: [][]byte{w.CA.Raw}})
	if err != nil {
		t.Fatal(err)
	}
	transfer, _, err := w.Signer.SignTransfer("dev-a", Transfer{ID: "t1", Voucher: []byte{1}, Ticket: []byte{2}})
	if err != nil {
		t.Fatal(err)
	}
	job, err := w.Signer.Sign("dev-a", w.Job)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"trust": trust, "transfer": transfer, "job": job} {
		var msg cose.Sign1Message
		if err := msg.UnmarshalCBOR(b); err != nil {
			t.Fatal(err)
		}
		if der, _ := msg.Headers.Protected[cose.HeaderLabelX5Chain].([]byte); !bytes.Equal(der, renewed.Raw) {
			t.Errorf("%s message: x5chain is not the renewed certificate", name)
		}
	}
}
