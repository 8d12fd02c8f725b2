package fwu_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"testing"

	"rampart/boot"
	"rampart/flash"
	"rampart/image"
	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/fwu"
	"rampart/spe/storage"
)

const flashMap = `{
  "flash": {"sectors": [{"size": 4096, "count": 4}, {"size": 4096, "count": 33}], "write_align": 8, "erased_value": 255},
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
	bootKey  = key("rampart fwu test boot key")
	otherKey = key("rampart fwu test other key")
)

func signed(t testing.TB, ver string, size int, k *ecdsa.PrivateKey, custom ...image.TLV) []byte {
	t.Helper()
	fw := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range fw {
		fw[i] = byte(r.Uint32())
	}
	v, err := image.ParseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	sc := v.SecurityCounter()
	res, err := image.Sign(fw, &image.SignOptions{Key: k, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", CustomTLVs: custom})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

type device struct {
	dev *flash.Device
	bl  *boot.Bootloader
	svc *fwu.Service
	c   *psaclient.FWU
}

func newFuzzDevice(f *testing.F) *device { return newDevice(f) }

func newDevice(t testing.TB) *device {
	t.Helper()
	return newDeviceKeys(t, []any{&bootKey.PublicKey}, boot.NewCounters(1, 0))
}

// newDeviceKeys is newDevice with the given boot keys and OTP block.
func newDeviceKeys(t testing.TB, keys []any, otp *boot.Counters) *device {
	t.Helper()
	cfg, err := boot.ParseConfig([]byte(flashMap), true)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := flash.New(cfg.Flash)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := boot.New(dev, cfg, keys, otp)
	if err != nil {
		t.Fatal(err)
	}
	if err := bl.Install(0, boot.Primary, signed(t, "1.0.0", 5000, bootKey)); err != nil {
		t.Fatal(err)
	}
	res, err := bl.Boot()
	if err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fwu.New(fwu.Options{Store: st, Flash: dev, Config: cfg, Boot: bl, Keys: keys, LastBoot: res, Reboot: bl.Boot})
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := srv.Local(-1)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewFWU(l)
	t.Cleanup(func() { c.Close() })
	return &device{dev, bl, svc, c}
}

func (d *device) state(t *testing.T) psa.FWUComponentInfo {
	t.Helper()
	info, err := d.c.Query(0)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (d *device) download(t *testing.T, img []byte, block int) error {
	t.Helper()
	if err := d.c.Start(0); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(img); off += block {
		end := min(off+block, len(img))
		if err := d.c.Write(0, uint32(off), img[off:end]); err != nil {
			t.Fatal(err)
		}
	}
	return d.c.Finish(0)
}

func TestUpdateAcceptAndReject(t *testing.T) {
	d := newDevice(t)
	if i := d.state(t); i.State != psa.FWUReady || i.Version.String() != "1.0.0+0" {
		t.Fatalf("initial %+v", i)
	}
	if err := d.download(t, signed(t, "2.0.0", 7001, bootKey), 333); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUCandidate || i.Candidate.String() != "2.0.0+0" {
		t.Fatalf("after finish %+v", i)
	}
	reboot, err := d.c.Install()
	if err != nil || !reboot {
		t.Fatalf("install: %v %v", reboot, err)
	}
	if i := d.state(t); i.State != psa.FWUStaged {
		t.Fatalf("after install %s", i.State)
	}
	if err := d.c.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUTrial || i.Version.String() != "2.0.0+0" {
		t.Fatalf("after reboot %+v", i)
	}
	if err := d.c.Accept(); err != nil {
		t.Fatal(err)
	}
	if err := d.c.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUUpdated || i.Version.String() != "2.0.0+0" {
		t.Fatalf("accepted, rebooted: %+v", i)
	}
	if err := d.c.Clean(0); err != nil {
		t.Fatal(err)
	}
	// Now a trial that is rejected: the bootloader reverts to 2.0.0.
	if err := d.download(t, signed(t, "3.0.0", 6000, bootKey), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Install(); err != nil {
		t.Fatal(err)
	}
	if err := d.c.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUTrial || i.Version.String() != "3.0.0+0" {
		t.Fatalf("trial %+v", i)
	}
	if reboot, err := d.c.Reject(-1); err != nil || !reboot {
		t.Fatalf("reject: %v %v", reboot, err)
	}
	if i := d.state(t); i.State != psa.FWURejected {
		t.Fatalf("rejected %+v", i)
	}
	if err := d.c.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUFailed || i.Version.String() != "2.0.0+0" {
		t.Fatalf("after revert %+v", i)
	}
	if err := d.c.Clean(0); err != nil {
		t.Fatal(err)
	}
	// A trial nobody accepts is reverted at the next reboot.
	if err := d.download(t, signed(t, "3.1.0", 6000, bootKey), 1000); err != nil {
		t.Fatal(err)
	}
	d.c.Install()
	d.c.RequestReboot()
	d.c.RequestReboot()
	if i := d.state(t); i.State != psa.FWUFailed || i.Version.String() != "2.0.0+0" {
		t.Fatalf("unaccepted trial %+v", i)
	}
}

func TestBadImagesAreNeverStaged(t *testing.T) {
	good := signed(t, "2.0.0", 3000, bootKey)
	flipped := append([]byte(nil), good...)
	flipped[100] ^= 1
	for name, img := range map[string][]byte{
		"other key": signed(t, "2.0.0", 3000, otherKey),
		"flipped":   flipped,
		"truncated": good[:len(good)-10],
		"garbage":   make([]byte, 2000),
	} {
		d := newDevice(t)
		if err := d.download(t, img, 512); !errors.Is(err, ipc.ErrInvalidSignature) {
			t.Fatalf("%s: finish: %v", name, err)
		}
		if i := d.state(t); i.State != psa.FWUFailed {
			t.Fatalf("%s: state %s", name, i.State)
		}
		if _, err := d.c.Install(); !errors.Is(err, ipc.ErrBadState) {
			t.Fatalf("%s: install: %v", name, err)
		}
		st, _ := d.bl.State()
		if st[0].NextSwap != boot.SwapNone || st[0].Secondary.Version != "" {
			t.Fatalf("%s: secondary slot %+v, next swap %s", name, st[0].Secondary, st[0].NextSwap)
		}
	}
}

func TestBadWrites(t *testing.T) {
	d := newDevice(t)
	if err := d.c.Start(3); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("unknown component: %v", err)
	}
	if err := d.c.Write(0, 0, []byte{1}); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("write before start: %v", err)
	}
	if err := d.c.Start(0); err != nil {
		t.Fatal(err)
	}
	if err := d.c.Write(0, 0, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := d.c.Write(0, 200, make([]byte, 100)); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("gap: %v", err)
	}
	if err := d.c.Write(0, 50, make([]byte, 100)); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("overlap: %v", err)
	}
	if err := d.c.Write(0, 100, make([]byte, 0x10000)); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("past the slot: %v", err)
	}
	if err := d.c.Write(1, 100, []byte{1}); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("unknown component write: %v", err)
	}
	if err := d.c.Accept(); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("accept in writing: %v", err)
	}
	if err := d.c.Cancel(0); err != nil {
		t.Fatal(err)
	}
	if i := d.state(t); i.State != psa.FWUFailed {
		t.Fatalf("cancelled: %s", i.State)
	}
}

// TestTamperAfterFinish replaces the candidate in flash between finish and
// install: install verifies again and stages nothing.
func TestTamperAfterFinish(t *testing.T) {
	d := newDevice(t)
	if err := d.download(t, signed(t, "2.0.0", 3000, bootKey), 4096); err != nil {
		t.Fatal(err)
	}
	if err := d.bl.Install(0, boot.Secondary, signed(t, "2.0.0", 3000, otherKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.c.Install(); !errors.Is(err, ipc.ErrInvalidSignature) {
		t.Fatalf("install of a swapped candidate: %v", err)
	}
	st, _ := d.bl.State()
	if st[0].NextSwap != boot.SwapNone {
		t.Fatalf("staged: %s", st[0].NextSwap)
	}
}

// TestPowerCutDuringUpdate cuts the power at every flash write and erase of
// a whole update (start, writes, finish, install), reboots, and checks that
// the device still boots the old or the new image and that the FWU state
// agrees with what the bootloader did.
func TestPowerCutDuringUpdate(t *testing.T) {
	v2 := signed(t, "2.0.0", 6000, bootKey)
	for k := 1; ; k++ {
		d := newDevice(t)
		storeDir := t.TempDir()
		st, _ := storage.Open(storeDir, storage.Options{})
		cfg, _ := boot.ParseConfig([]byte(flashMap), true)
		res, err := d.bl.Boot()
		if err != nil {
			t.Fatal(err)
		}
		keys := []any{&bootKey.PublicKey}
		svc, err := fwu.New(fwu.Options{Store: st, Flash: d.dev, Config: cfg, Boot: d.bl, Keys: keys, LastBoot: res})
		if err != nil {
			t.Fatal(err)
		}
		d.dev.SetFault(&flash.Fault{CutBefore: k, Tear: true, TearNum: 1, TearDen: 2})
		err = svc.Start(0)
		for off := 0; err == nil && off < len(v2); off += 1000 {
			err = svc.Write(0, uint32(off), v2[off:min(off+1000, len(v2))])
		}
		if err == nil {
			err = svc.Finish(0)
		}
		if err == nil {
			if err = svc.Install(); errors.Is(err, psa.SuccessReboot) {
				err = nil
			}
		}
		cut := d.dev.PoweredOff()
		d.dev.PowerOn()
		bl, berr := boot.New(d.dev, cfg, keys, d.bl.Counters())
		if berr != nil {
			t.Fatal(berr)
		}
		res, berr = bl.Boot()
		if berr != nil {
			t.Fatalf("cut at op %d: device does not boot: %v", k, berr)
		}
		svc2, err2 := fwu.New(fwu.Options{Store: st, Flash: d.dev, Config: cfg, Boot: bl, Keys: keys, LastBoot: res})
		if err2 != nil {
			t.Fatal(err2)
		}
		info, _ := svc2.Query(0)
		running := res.Images[0].Version
		switch {
		case running == "2.0.0+0" && info.State == psa.FWUTrial:
		case running == "1.0.0+0" && (info.State == psa.FWUFailed || info.State == psa.FWUCandidate || info.State == psa.FWUReady):
		default:
			t.Fatalf("cut at op %d (err %v): running %s, FWU state %s", k, err, running, info.State)
		}
		if !cut {
			if err != nil || running != "2.0.0+0" {
				t.Fatalf("uncut run: %v, running %s", err, running)
			}
			if k < 5 {
				t.Fatalf("only %d flash operations", k)
			}
			break
		}
	}
}

// TestDamagedState: a damaged state record leaves every component FAILED
// (cleanable), never a running SPE that cannot start.
func TestDamagedState(t *testing.T) {
	for _, junk := range [][]byte{[]byte("{"), []byte(`[{"state": 200}]`), []byte("null"), {0xff, 0x00},
		[]byte(`[{"state": 2, "written": 4000000000}]`)} { // more than the slot: must not be believed (nor allocated)
		d := newDevice(t)
		dir := t.TempDir()
		st, _ := storage.Open(dir, storage.Options{})
		if err := st.Put("state", junk); err != nil {
			t.Fatal(err)
		}
		cfg, _ := boot.ParseConfig([]byte(flashMap), true)
		svc, err := fwu.New(fwu.Options{Store: st, Flash: d.dev, Config: cfg, Boot: d.bl, Keys: []any{&bootKey.PublicKey}})
		if err != nil {
			t.Fatalf("%q: %v", junk, err)
		}
		info, _ := svc.Query(0)
		if info.State != psa.FWUFailed && info.State != psa.FWUReady {
			t.Fatalf("%q: state %s", junk, info.State)
		}
		if bytes.Contains(junk, []byte("written")) && info.State != psa.FWUFailed {
			t.Fatalf("%q: state %s, want FAILED", junk, info.State)
		}
		if info.State == psa.FWUFailed {
			if err := svc.Clean(0); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.Start(0); err != nil {
			t.Fatalf("%q: start after clean: %v", junk, err)
		}
	}
}
