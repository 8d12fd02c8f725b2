package platform_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/boot"
	"rampart/image"
	"rampart/ipc"
	"rampart/psaclient"
	"rampart/spe/audit"
	"rampart/spe/platform"
	"rampart/spe/provision"
	"rampart/spe/rot"
	"rampart/spe/storage"
	"rampart/swcomponent"
)

const flashMap = `{
  "flash": {"sectors": [{"size": 4096, "count": 37}], "write_align": 8, "erased_value": 255},
  "strategy": "swap-move", "max_align": 8,
  "bootloader": {"offset": 0, "size": 16384},
  "images": [{"id": 0, "name": "SPE",
     "primary": {"offset": "0x4000", "size": "0x11000"},
     "secondary": {"offset": "0x15000", "size": "0x10000"}}]
}`

func key(s string) *ecdsa.PrivateKey {
	h := sha256.Sum256([]byte(s))
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8(h))
	if err != nil {
		panic(err)
	}
	return k
}

var (
	bootKey = key("platform test boot key")
	mfrKey  = key("platform test manufacturer key")
	implID  = bytes.Repeat([]byte{0x5a}, 32)
)

func signed(t testing.TB, ver string, size int) []byte {
	t.Helper()
	fw := bytes.Repeat([]byte(ver), size/len(ver))
	v, _ := image.ParseVersion(ver)
	sc := v.SecurityCounter()
	res, err := image.Sign(fw, &image.SignOptions{Key: bootKey, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

// newDevice creates a device directory with v1 in the primary slot and no
// boot keys yet (provisioning installs them).
func newDevice(t *testing.T) (devDir, stateDir string) {
	t.Helper()
	root := t.TempDir()
	devDir, stateDir = filepath.Join(root, "device"), filepath.Join(root, "state")
	cfg, err := boot.ParseConfig([]byte(flashMap), true)
	if err != nil {
		t.Fatal(err)
	}
	d, err := boot.CreateDevice(devDir, cfg, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.Install(0, boot.Primary, signed(t, "1.0.0", 4000)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	return devDir, stateDir
}

func open(t *testing.T, devDir, stateDir string, tpm ...*rot.TPM) (*platform.Platform, *boot.Device) {
	t.Helper()
	d, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	o := platform.Options{StateDir: stateDir, Device: d}
	if len(tpm) > 0 {
		o.RoT = tpm[0]
	}
	p, err := platform.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, d
}

func provisionDevice(t *testing.T, devDir, stateDir string) *provision.Result {
	t.Helper()
	// Before provisioning the device has no boot keys: nothing boots, and
	// there is nothing to attest.
	d, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
	res, err := provision.Run(p, provision.Options{ImplementationID: implID, CertificationReference: "1234567890123-12345",
		BootKeys: [][]byte{pubPEM}, DeviceDir: devDir, Manufacturer: mfrKey, Comment: "unit test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provision.Run(p, provision.Options{ImplementationID: implID, Manufacturer: mfrKey}); !errors.Is(err, provision.ErrState) {
		t.Fatalf("second provisioning: %v", err)
	}
	p.Close()
	d.Close()
	return res
}

func token(t *testing.T, p *platform.Platform, client int32, nonce []byte) ([]byte, error) {
	t.Helper()
	l, err := p.Server.Local(client)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewAttestation(l)
	defer c.Close()
	return c.Token(nonce)
}

// TestDeviceLife provisions a device, boots v1, attests, updates to v2
// through FWU, attests again, and decommissions it.
func TestDeviceLife(t *testing.T) {
	devDir, stateDir := newDevice(t)
	res := provisionDevice(t, devDir, stateDir)

	list, payload, err := provision.VerifyEndorsements(res.Signed, &mfrKey.PublicKey)
	if err != nil || !bytes.Equal(payload, res.List) || list.Len() != 1 {
		t.Fatalf("signed endorsements: %v", err)
	}
	bad := bytes.Clone(res.Signed)
	bad[len(bad)-70] ^= 1
	if _, _, err := provision.VerifyEndorsements(bad, &mfrKey.PublicKey); err == nil {
		t.Fatal("tampered endorsement verified")
	}
	if _, _, err := provision.VerifyEndorsements(res.Signed, &bootKey.PublicKey); !errors.Is(err, provision.ErrEndorsementSignature) {
		t.Fatalf("endorsement with the wrong key: %v", err)
	}

	p, _ := open(t, devDir, stateDir)
	if p.Lifecycle.State() != attest.LifecycleSecured {
		t.Fatalf("lifecycle %s", p.Lifecycle.State())
	}
	nonce := bytes.Repeat([]byte{0xee}, 48)
	tok, err := token(t, p, -7, nonce)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	v1 := signed(t, "1.0.0", 4000)
	img, ver, _ := image.Verify(v1, &bootKey.PublicKey)
	if cl.ClientID != -7 || len(cl.SoftwareComponents) != 1 || cl.SoftwareComponents[0].Version != "1.0.0" || img.Header.Ver.Major != 1 ||
		!bytes.Equal(cl.SoftwareComponents[0].MeasurementValue, ver.Digest) {
		t.Fatalf("claims %+v, want the v1 image's digest %x", cl.SoftwareComponents, ver.Digest)
	}

	// Update to v2 through the FWU service.
	l, _ := p.Server.Local(-1)
	fw := psaclient.NewFWU(l)
	v2 := signed(t, "2.0.0", 5000)
	if err := fw.Start(0); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(0, 0, v2); err != nil {
		t.Fatal(err)
	}
	if err := fw.Finish(0); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Install(); err != nil {
		t.Fatal(err)
	}
	if err := fw.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	if err := fw.Accept(); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	tok, err = token(t, p, -7, nonce)
	if err != nil {
		t.Fatal(err)
	}
	cl, err = attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce})
	if err != nil || cl.SoftwareComponents[0].Version != "2.0.0" && cl.SoftwareComponents[0].Version != "2.0.0+0" {
		t.Fatalf("after update: %v %+v", err, cl)
	}

	// Store something, then decommission: nothing survives.
	l2, _ := p.Server.Local(-1)
	store := psaclient.NewPS(l2)
	if err := store.Set(1, []byte("customer data"), 0); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if err := p.Lifecycle.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	if _, err := token(t, p, -7, nonce); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Fatalf("token after decommissioning: %v, want the service gone (CONNECTION_REFUSED)", err)
	}
	for _, name := range []string{platform.HUKFile, platform.KeysDir, platform.ITSDir, platform.PSDir, platform.AttestDir, platform.AuditDir} {
		if _, err := os.Stat(filepath.Join(stateDir, name)); !os.IsNotExist(err) {
			t.Errorf("%s survives decommissioning: %v", name, err)
		}
	}
	p.Close()
	p2, _ := open(t, devDir, stateDir)
	if p2.Attestation != nil || p2.Crypto != nil || p2.PS != nil {
		t.Fatal("key-holding services started on a decommissioned device")
	}
	if _, err := os.Stat(filepath.Join(stateDir, platform.HUKFile)); !os.IsNotExist(err) {
		t.Fatal("a new HUK was minted on a decommissioned device")
	}
}

// TestNoTokenBeforeProvisioning: a device in assembly and test has no IAK
// and refuses tokens.
func TestNoTokenBeforeProvisioning(t *testing.T) {
	devDir, stateDir := newDevice(t)
	p, err := platform.Open(platform.Options{StateDir: stateDir, BootRecords: []swcomponent.Component{{MeasurementValue: make([]byte, 32), SignerID: make([]byte, 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = devDir
	if _, err := token(t, p, -1, make([]byte, 32)); !errors.Is(err, ipc.ErrServiceFailure) {
		t.Fatalf("unprovisioned token: %v", err)
	}
}

// TestLifecycleAudited: every transition lands in the audit log, which an
// authorized reader retrieves and verifies.
func TestLifecycleAudited(t *testing.T) {
	devDir, stateDir := newDevice(t)
	provisionDevice(t, devDir, stateDir)
	d, err := platform.OpenDevice(devDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p, err := platform.Open(platform.Options{StateDir: stateDir, Device: d, AuditReaders: []int32{-4}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Lifecycle.Transition(attest.LifecycleNonPSARoTDebug); err != nil {
		t.Fatal(err)
	}
	l, _ := p.Server.Local(-4)
	c := psaclient.NewAudit(l)
	defer c.Close()
	if err := c.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	data, err := c.ReadAll(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := c.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Verify(bytes.NewReader(data), int64(len(data)), pub, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, r := range rep.Records {
		events = append(events, string(r.Data))
	}
	// Provisioning's two transitions and the debug one, in order.
	want := []string{
		attest.LifecycleAssemblyAndTest.String() + " -> " + attest.LifecyclePSARoTProvisioning.String(),
		attest.LifecyclePSARoTProvisioning.String() + " -> " + attest.LifecycleSecured.String(),
		attest.LifecycleSecured.String() + " -> " + attest.LifecycleNonPSARoTDebug.String(),
	}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", events, want)
	}
	if rep.Records[2].Client != platform.LifecyclePartitionID || rep.Records[2].Event != "lifecycle.transition" {
		t.Fatalf("record %+v", rep.Records[2])
	}
}

// TestProvisioningPowerCut cuts the power at every storage step of
// provisioning (lifecycle records, identity, sealed IAK, audit key and
// log): running provisioning again afterwards always yields a secured
// device whose tokens verify with the endorsement it writes.
func TestProvisioningPowerCut(t *testing.T) {
	for k := 1; ; k++ {
		devDir, stateDir := newDevice(t)
		var n int
		cut := storage.CutAt(k, &n)
		pubPEM, _ := image.MarshalPublicKeyPEM(&bootKey.PublicKey)
		opts := provision.Options{ImplementationID: implID, BootKeys: [][]byte{pubPEM}, DeviceDir: devDir, Manufacturer: mfrKey}
		var err error
		p, err := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}, StorageFault: cut})
		if err == nil {
			_, err = provision.Run(p, opts)
			p.Close()
		}
		done := err == nil
		// Power back: provisioning again finishes the job.
		p2, err2 := platform.Open(platform.Options{StateDir: stateDir, LastBoot: &boot.Result{}})
		if err2 != nil {
			t.Fatalf("cut at storage step %d: reopen: %v", k, err2)
		}
		res, err2 := provision.Run(p2, opts)
		if !done && errors.Is(err2, provision.ErrState) && p2.Lifecycle.State() == attest.LifecycleSecured {
			// Cut after secured was recorded: the endorsement is reissued.
			res, err2 = provision.Reissue(p2, opts)
		}
		switch {
		case done && !errors.Is(err2, provision.ErrState):
			t.Fatalf("uncut provisioning, then again: %v", err2)
		case !done && err2 != nil:
			t.Fatalf("cut at storage step %d (%v): provisioning again: %v", k, err, err2)
		}
		p2.Close()
		if done {
			if k < 5 {
				t.Fatalf("only %d storage steps", k)
			}
			break
		}
		p3, _ := open(t, devDir, stateDir)
		nonce := bytes.Repeat([]byte{3}, 32)
		tok, err := token(t, p3, -1, nonce)
		if err != nil {
			t.Fatalf("cut at step %d: token: %v", k, err)
		}
		list, _, _ := provision.VerifyEndorsements(res.Signed, &mfrKey.PublicKey)
		if _, err := attest.Verify(tok, attest.VerifyOptions{Lookup: list.Lookup, Nonce: nonce}); err != nil {
			t.Fatalf("cut at step %d: %v", k, err)
		}
	}
}

const flashMapWithITS = `{
  "flash": {"sectors": [{"size": 4096, "count": 41}], "write_align": 8, "erased_value": 255},
  "strategy": "swap-move", "max_align": 8,
  "bootloader": {"offset": 0, "size": 16384},
  "images": [{"id": 0, "name": "SPE",
     "primary": {"offset": "0x4000", "size": "0x11000"},
     "secondary": {"offset": "0x15000", "size": "0x10000"}}],
  "storage": [{"name": "its", "offset": "0x25000", "size": "0x4000"}]
}`

// newFlashITSDevice makes a device whose flash map has an "its" area,
// with version 1.0.0 installed (TestITSOnFlash, TestLevel3ITSOnFlash).
func newFlashITSDevice(t *testing.T) (devDir, stateDir string) {
	t.Helper()
	root := t.TempDir()
	devDir, stateDir = filepath.Join(root, "device"), filepath.Join(root, "state")
	cfg, err := boot.ParseConfig([]byte(flashMapWithITS), true)
	if err != nil {
		t.Fatal(err)
	}
	d, err := boot.CreateDevice(devDir, cfg, []any{&bootKey.PublicKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.Install(0, boot.Primary, signed(t, "1.0.0", 4000)); err != nil {
		t.Fatal(err)
	}
	d.Close()
	return devDir, stateDir
}

// TestITSOnFlash keeps ITS (PS records, audit anchor) in the device's "its"
// flash area: objects survive a restart, an update runs beside it, and
// decommissioning erases the area.
func TestITSOnFlash(t *testing.T) {
	devDir, stateDir := newFlashITSDevice(t)
	openFlashPlatform := func() (*platform.Platform, *boot.Device) {
		d, err := platform.OpenDevice(devDir)
		if err != nil {
			t.Fatal(err)
		}
		p, err := platform.Open(platform.Options{StateDir: stateDir, Device: d, ITSOnFlash: true})
		if err != nil {
			t.Fatal(err)
		}
		return p, d
	}
	p, d := openFlashPlatform()
	l, _ := p.Server.Local(-1)
	c := psaclient.NewITS(l)
	if err := c.Set(5, []byte("in flash"), 0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(filepath.Join(stateDir, platform.ITSDir)); !os.IsNotExist(err) {
		t.Fatalf("ITS directory created with ITS on flash: %v", err)
	}
	// An update beside ITS on the same flash.
	l2, _ := p.Server.Local(-1)
	fw := psaclient.NewFWU(l2)
	v2 := signed(t, "2.0.0", 5000)
	if err := fw.Start(0); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(0, 0, v2); err != nil {
		t.Fatal(err)
	}
	if err := fw.Finish(0); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	p.Close()
	d.Close()

	p, d = openFlashPlatform()
	defer d.Close()
	l, _ = p.Server.Local(-1)
	c = psaclient.NewITS(l)
	if got, err := c.Get(5, 0, 100); err != nil || string(got) != "in flash" {
		t.Fatalf("after restart: %q %v", got, err)
	}
	c.Close()
	if err := p.Lifecycle.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	if ok, err := d.Flash.IsErased(0x25000, 0x4000); err != nil || !ok {
		t.Fatalf("ITS flash area not erased by decommissioning: %v", err)
	}
	p.Close()
}
