package boot

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rampart/flash"
	"rampart/image"
)

// The rotation rig: key 0 (testKey) is the current release key, key 1
// (otherKey) the next one, provisioned pending.
const (
	oldKeyIdx = 0
	newKeyIdx = 1
)

type rotation struct {
	v1, v2, v3, oldAfter, newEarly []byte
}

func newRotation(t testing.TB) rotation { return newRotationAt(t, 0) }

// newRotationAt signs the rotation's images; load, when not zero, is their
// RAM load address (ram-load).
func newRotationAt(t testing.TB, load uint32) rotation {
	rot, err := RotateKeyTLV(otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ver string, sc uint32, key crypto.Signer, tlvs ...image.TLV) []byte {
		return makeImage(t, imgSpec{ver: ver, secCnt: sc, size: 5000, key: key, seed: uint64(sc) + 7, tlvs: tlvs, loadAddr: load})
	}
	return rotation{
		v1:       mk("1.0.0", 1, testKey),
		v2:       mk("2.0.0", 2, testKey, rot),
		v3:       mk("3.0.0", 3, otherKey),
		oldAfter: mk("4.0.0", 4, testKey),
		newEarly: mk("1.5.0", 1, otherKey),
	}
}

func newRotationRig(t testing.TB, rt rotation) *rig { return newRotationRigIn(t, SwapMove, rt) }

// newRotationRigIn is a one-image device under strategy s with the new key
// pending, running v1 (confirmed, with direct-XIP revert).
func newRotationRigIn(t testing.TB, s Strategy, rt rotation) *rig {
	t.Helper()
	cfg := layouts[0].config(s, 8, 0xff, 1)
	dev, err := flash.New(cfg.Flash)
	if err != nil {
		t.Fatal(err)
	}
	ctr := NewCounters(1, 0)
	if err := ctr.MarkPending(newKeyIdx); err != nil {
		t.Fatal(err)
	}
	bl, err := New(dev, cfg, []any{testKey.Public(), otherKey.Public()}, ctr)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, dev: dev, ctr: ctr, bl: bl}
	r.install(0, Primary, rt.v1)
	if s == DirectXIPRevert {
		r.confirmTrailer(0, Primary)
	}
	r.boot()
	return r
}

// deliver is the update client: install img, ask for a test boot, boot,
// confirm the image if it runs, boot again. It stops at the first error (a
// power cut).
func deliver(r *rig, img []byte, want string) error {
	if err := r.bl.Install(0, Secondary, img); err != nil {
		return err
	}
	if err := r.bl.RequestUpgrade(0, false); err != nil {
		return err
	}
	res, err := r.bl.Boot()
	if err != nil {
		return err
	}
	if got := res.Images[0].Version; got != want {
		return fmt.Errorf("test boot ran %s, want %s\n%s", got, want, notes(res))
	}
	if err := r.bl.Confirm(0); err != nil {
		return err
	}
	_, err = r.bl.Boot()
	return err
}

func permanentlyRunning(r *rig, want string) bool {
	st, err := r.bl.State()
	if err != nil || !st[0].Primary.Valid || st[0].Primary.Version != want {
		return false
	}
	t := st[0].Primary.Trailer
	return t.Magic != MagicGood || t.ImageOK == FlagSet
}

// checkKeyState fails unless the key fuses are in one of the rotation's
// three states and the running image is signed by a usable key.
func checkKeyState(t testing.TB, r *rig, res *Result, where string) {
	t.Helper()
	f := r.ctr.KeyFuses
	initial := KeyFuses{Pending: 1 << newKeyIdx}
	rotated := KeyFuses{Pending: 1 << newKeyIdx, Activated: 1 << newKeyIdx, Retiring: 1 << oldKeyIdx}
	revoked := rotated
	revoked.Revoked = 1 << oldKeyIdx
	v := res.Images[0].Version
	switch {
	case f == initial && (v == "1.0.0+0" || v == "2.0.0+0"):
	case f == rotated && (v == "2.0.0+0" || v == "3.0.0+0"):
	case f == revoked && v == "3.0.0+0":
	default:
		t.Fatalf("%s: key fuses %+v (%s) with %s running\n%s", where, f, f.KeyStatuses(2), v, notes(res))
	}
}

// runRotation delivers v2 (old key, rotation TLV) then v3 (new key); the
// power is cut before flash operation cut (0: never). After a cut the
// device boots, must run an authentic image with a consistent key state,
// and the client starts the interrupted delivery again unless it is done.
//
// Under strategy s: swap-move's client requests the upgrade in the
// secondary (deliver), direct-XIP's and ram-load's write the slot not
// running (deliverXIP).
func runRotation(t *testing.T, s Strategy, rt rotation, cut int, tear bool) (ops int) {
	r := newRotationRigIn(t, s, rt)
	r.dev.SetFault(&flash.Fault{CutBefore: cut, Tear: tear, TearNum: 1, TearDen: 2})
	where := fmt.Sprintf("%s cut %d tear %v", s, cut, tear)
	send, running := deliver, func(r *rig, want string, _ *Result) bool { return permanentlyRunning(r, want) }
	if s.directXIP() {
		send, running = deliverXIP, xipPermanentlyRunning
	}
	for _, d := range []struct {
		img  []byte
		want string
	}{{rt.v2, "2.0.0+0"}, {rt.v3, "3.0.0+0"}} {
		for attempt := 0; ; attempt++ {
			if attempt > 3 {
				t.Fatalf("%s: %s not delivered after %d attempts", where, d.want, attempt)
			}
			err := send(r, d.img, d.want)
			ops += r.dev.Ops()
			if err == nil {
				break
			}
			if !errors.Is(err, flash.ErrPowerCut) {
				t.Fatalf("%s: delivering %s: %v", where, d.want, err)
			}
			r.dev.PowerOn()
			res, err := r.bl.Boot()
			if err != nil {
				t.Fatalf("%s: boot after the cut: %v\n%s", where, err, notes(res))
			}
			checkKeyState(t, r, res, where)
			if running(r, d.want, res) {
				break
			}
		}
	}
	res := r.boot()
	checkKeyState(t, r, res, where)
	if r.ctr.KeyStatuses(2) != "0:revoked 1:active" {
		t.Fatalf("%s: keys %s at the end, want 0:revoked 1:active\n%s", where, r.ctr.KeyStatuses(2), notes(res))
	}
	return ops
}

// TestKeyRotation: the next key's image is refused while it is pending;
// v2, signed by the old key with the rotation TLV, activates the new key
// once confirmed (not while on test); v3, signed by the new key, boots and,
// once confirmed, the old key is revoked; then the old key's image is
// refused and v3 keeps running.
func TestKeyRotation(t *testing.T) {
	rt := newRotation(t)
	r := newRotationRig(t, rt)

	r.install(0, Secondary, rt.newEarly)
	r.request(0, true)
	if res := r.boot(); res.Images[0].Version != "1.0.0+0" || !strings.Contains(notes(res), ErrKeyNotActive.Error()) {
		t.Fatalf("the pending key's image before any rotation:\n%s", notes(res))
	}

	r.install(0, Secondary, rt.v2)
	r.request(0, false)
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" || r.ctr.KeyStatuses(2) != "0:active 1:pending" {
		t.Fatalf("v2 on test: %s, keys %s", res.Images[0].Version, r.ctr.KeyStatuses(2))
	}
	if err := r.bl.Confirm(0); err != nil {
		t.Fatal(err)
	}
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" || r.ctr.KeyStatuses(2) != "0:retiring 1:active" {
		t.Fatalf("v2 confirmed: %s, keys %s\n%s", res.Images[0].Version, r.ctr.KeyStatuses(2), notes(res))
	}

	r.install(0, Secondary, rt.v3)
	r.request(0, false)
	if res := r.boot(); res.Images[0].Version != "3.0.0+0" || r.ctr.KeyStatuses(2) != "0:retiring 1:active" {
		t.Fatalf("v3 on test: %s, keys %s", res.Images[0].Version, r.ctr.KeyStatuses(2))
	}
	if err := r.bl.Confirm(0); err != nil {
		t.Fatal(err)
	}
	if res := r.boot(); res.Images[0].Version != "3.0.0+0" || r.ctr.KeyStatuses(2) != "0:revoked 1:active" {
		t.Fatalf("v3 confirmed: %s, keys %s\n%s", res.Images[0].Version, r.ctr.KeyStatuses(2), notes(res))
	}

	r.install(0, Secondary, rt.oldAfter)
	st, err := r.bl.State()
	if err != nil || st[0].Secondary.Valid || !strings.Contains(st[0].Secondary.Problem, ErrKeyRevoked.Error()) {
		t.Fatalf("the revoked key's image is not refused: %v %+v", err, st[0].Secondary)
	}
	if _, err := r.bl.validate(rt.oldAfter, 0, 1<<20, true); !errors.Is(err, ErrKeyRevoked) || !errors.Is(err, ErrUnsigned) {
		t.Fatalf("validate: %v, want ErrKeyRevoked and ErrUnsigned", err)
	}
	r.request(0, true)
	if res := r.boot(); res.Images[0].Version != "3.0.0+0" || !res.Images[0].Booted {
		t.Fatalf("after the revoked key's image: %+v", res.Images[0])
	}
}

// TestKeyRotationRefusals: rotation TLVs that must not be obeyed.
func TestKeyRotationRefusals(t *testing.T) {
	rt := newRotation(t)
	r := newRotationRig(t, rt)
	self, _ := RotateKeyTLV(testKey.Public())
	unknown, _ := RotateKeyTLV(ecdsaKey.Public())
	for name, tlv := range map[string]image.TLV{
		"own signer":      self,
		"not provisioned": unknown,
		"short":           {Type: TLVRotateKey, Value: make([]byte, 31)},
	} {
		img := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 3000, key: testKey, tlvs: []image.TLV{tlv}})
		if _, err := r.bl.validate(img, 0, 1<<20, true); !errors.Is(err, ErrInvalidImage) {
			t.Errorf("%s: %v, want ErrInvalidImage", name, err)
		}
	}
	// The pending key cannot activate itself or anything else.
	rot, _ := RotateKeyTLV(testKey.Public())
	img := makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 3000, key: otherKey, tlvs: []image.TLV{rot}})
	if _, err := r.bl.validate(img, 0, 1<<20, true); !errors.Is(err, ErrKeyNotActive) {
		t.Errorf("pending key's rotation: %v, want ErrKeyNotActive", err)
	}
	if r.ctr.KeyStatuses(2) != "0:active 1:pending" {
		t.Errorf("keys %s", r.ctr.KeyStatuses(2))
	}
	// Once rotated, the new key cannot rotate back to the retiring one.
	if _, err := r.ctr.rotate(oldKeyIdx, newKeyIdx); err != nil {
		t.Fatal(err)
	}
	back := makeImage(t, imgSpec{ver: "3.0.0", secCnt: 3, size: 3000, key: otherKey, tlvs: []image.TLV{rot}})
	if _, err := r.bl.validate(back, 0, 1<<20, true); !errors.Is(err, ErrInvalidImage) || !strings.Contains(err.Error(), "retiring") {
		t.Errorf("rotation back to the retiring key: %v, want ErrInvalidImage", err)
	}
}

// TestKeyRotationPowerCut cuts the power before every flash operation of
// the two deliveries (then again with torn operations at every third):
// each boot after a cut runs an authentic image under a usable key with
// the key fuses in a consistent state, and the rotation completes.
func TestKeyRotationPowerCut(t *testing.T) {
	rt := newRotation(t)
	total := runRotation(t, SwapMove, rt, 0, false)
	if total < 20 {
		t.Fatalf("only %d flash operations: the sweep would test nothing", total)
	}
	for cut := 1; cut <= total; cut++ {
		runRotation(t, SwapMove, rt, cut, false)
	}
	for cut := 1; cut <= total; cut += 3 {
		runRotation(t, SwapMove, rt, cut, true)
	}
	t.Logf("%d cut points", total)
}

// TestKeyRotationImgtool: MCUboot's imgtool makes the rotating update with
// --custom-tlv (the TLV is in the range it allows, in the protected area)
// and the bootloader obeys it; imgtool verifies the update Rampart signs.
func TestKeyRotationImgtool(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): imgtool rotation check skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	imgtool := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(py, append([]string{tool}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("imgtool %s: %v\n%s", args[0], err, out)
		}
	}
	priv, err := image.MarshalPrivateKeyPEM(testKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := image.MarshalPublicKeyPEM(testKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := write("old.pem", priv), write("old-pub.pem", pub)
	rt := newRotation(t)

	imgtool("verify", "--key", pubFile, write("v2-rampart.bin", rt.v2))

	rot, err := RotateKeyTLV(otherKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "v2-imgtool.bin")
	imgtool("sign", "--key", keyFile, "--header-size", "32", "--pad-header", "--align", "8",
		"--version", "2.0.0", "--security-counter", "2",
		"--slot-size", fmt.Sprint(uint32(layouts[0].config(SwapMove, 8, 0xff, 1).Images[0].Secondary.Size)),
		"--custom-tlv", fmt.Sprintf("0x%04x", TLVRotateKey), "0x"+hex.EncodeToString(rot.Value),
		write("body.bin", make([]byte, 4000)), out)
	v2, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	r := newRotationRig(t, rt)
	r.install(0, Secondary, v2)
	r.request(0, true)
	res := r.boot()
	if res.Images[0].Version != "2.0.0+0" || r.ctr.KeyStatuses(2) != "0:retiring 1:active" {
		t.Fatalf("imgtool's rotating update: %s, keys %s\n%s", res.Images[0].Version, r.ctr.KeyStatuses(2), notes(res))
	}
}

// TestKeyRotationDeviceDir: the key fuses live in the device directory's
// otp.json and survive every power cycle (the device is opened again for
// each boot), and a fuse cannot be cleared by the factory call again.
func TestKeyRotationDeviceDir(t *testing.T) {
	rt := newRotation(t)
	dir := filepath.Join(t.TempDir(), "dev")
	cfg := layouts[0].config(SwapMove, 8, 0xff, 1)
	d, err := CreateDevice(dir, cfg, []any{testKey, otherKey}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ProvisionNextKeys(2); !errors.Is(err, ErrKeyFuse) {
		t.Fatalf("next key index beyond the key set: %v", err)
	}
	if err := d.ProvisionNextKeys(newKeyIdx); err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.Install(0, Primary, rt.v1); err != nil {
		t.Fatal(err)
	}
	d.Close()
	cycle := func(do func(d *Device) error) string {
		t.Helper()
		d, err := OpenDevice(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if do != nil {
			if err := do(d); err != nil {
				t.Fatal(err)
			}
		}
		res, err := d.Boot.Boot()
		if err != nil {
			t.Fatalf("%v\n%s", err, notes(res))
		}
		return res.Images[0].Version + " " + d.Boot.Counters().KeyStatuses(2)
	}
	stage := func(img []byte) func(d *Device) error {
		return func(d *Device) error {
			if err := d.Boot.Install(0, Secondary, img); err != nil {
				return err
			}
			return d.Boot.RequestUpgrade(0, false)
		}
	}
	confirm := func(d *Device) error { return d.Boot.Confirm(0) }
	for i, s := range []struct {
		do   func(d *Device) error
		want string
	}{
		{nil, "1.0.0+0 0:active 1:pending"},
		{stage(rt.v2), "2.0.0+0 0:active 1:pending"},
		{confirm, "2.0.0+0 0:retiring 1:active"},
		{stage(rt.v3), "3.0.0+0 0:retiring 1:active"},
		{confirm, "3.0.0+0 0:revoked 1:active"},
		{func(d *Device) error { return d.ProvisionNextKeys(oldKeyIdx) }, "3.0.0+0 0:revoked 1:active"},
		{stage(rt.oldAfter), "3.0.0+0 0:revoked 1:active"},
	} {
		if got := cycle(s.do); got != s.want {
			t.Fatalf("step %d: %s, want %s", i, got, s.want)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, DeviceOTPFile))
	if err != nil || !strings.Contains(string(b), `"key_revoked": 1`) {
		t.Fatalf("otp.json: %v\n%s", err, b)
	}
}

// TestKeyRotationOTPWriteFails: when the OTP block cannot be written the
// boot says so, the key fuses the bootloader trusts stay as the block
// holds them, and the next boot programs them.
func TestKeyRotationOTPWriteFails(t *testing.T) {
	rt := newRotation(t)
	r := newRotationRig(t, rt)
	r.install(0, Secondary, rt.v2)
	r.request(0, true)
	if _, err := r.ctr.Raise(0, 2); err != nil { // isolate the key fuses' write
		t.Fatal(err)
	}
	r.ctr.path = filepath.Join(t.TempDir(), "missing", "otp.json")
	res, err := r.bl.Boot()
	if err == nil || errors.Is(err, flash.ErrPowerCut) {
		t.Fatalf("boot with an unwritable OTP block: %v\n%s", err, notes(res))
	}
	if got := r.ctr.KeyStatuses(2); got != "0:active 1:pending" {
		t.Fatalf("after the failed write: %s", got)
	}
	r.ctr.path = ""
	if res := r.boot(); res.Images[0].Version != "2.0.0+0" || r.ctr.KeyStatuses(2) != "0:retiring 1:active" {
		t.Fatalf("next boot: %s %s", res.Images[0].Version, r.ctr.KeyStatuses(2))
	}
}

// TestKeyRotationTwoImages: the old key is revoked only once every image
// runs under the new key; until then the image still signed by the old
// key keeps booting.
func TestKeyRotationTwoImages(t *testing.T) {
	rt := newRotation(t)
	cfg := layouts[0].config(SwapMove, 8, 0xff, 2)
	dev, err := flash.New(cfg.Flash)
	if err != nil {
		t.Fatal(err)
	}
	ctr := NewCounters(2, 0)
	if err := ctr.MarkPending(newKeyIdx); err != nil {
		t.Fatal(err)
	}
	bl, err := New(dev, cfg, []any{testKey.Public(), otherKey.Public()}, ctr)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, cfg: cfg, dev: dev, ctr: ctr, bl: bl}
	r.install(0, Primary, rt.v1)
	r.install(1, Primary, rt.v1)
	r.boot()
	nspe := makeImage(t, imgSpec{ver: "3.1.0", secCnt: 3, size: 4000, key: otherKey, seed: 99})
	for _, s := range []struct {
		image int
		img   []byte
		keys  string
	}{
		{0, rt.v2, "0:retiring 1:active"},
		{0, rt.v3, "0:retiring 1:active"}, // image 1 still runs under key 0
		{1, nspe, "0:revoked 1:active"},
	} {
		r.install(s.image, Secondary, s.img)
		r.request(s.image, true)
		res := r.boot()
		if !res.Images[0].Booted || !res.Images[1].Booted || r.ctr.KeyStatuses(2) != s.keys {
			t.Fatalf("image %d updated: keys %s, want %s\n%s", s.image, r.ctr.KeyStatuses(2), s.keys, notes(res))
		}
	}
}

// FuzzValidateRotation feeds hostile images to validation on a device in
// the middle of a rotation: nothing panics, and an image that validates
// was signed by a usable key and names, if anything, another provisioned
// key that is neither revoked nor retiring.
func FuzzValidateRotation(f *testing.F) {
	rt := newRotation(f)
	short := makeImage(f, imgSpec{ver: "2.0.0", secCnt: 2, size: 300, key: testKey, tlvs: []image.TLV{{Type: TLVRotateKey, Value: []byte{1, 2}}}})
	for _, b := range [][]byte{rt.v1, rt.v2, rt.v3, rt.newEarly, short} {
		f.Add(b)
	}
	r := newRotationRig(f, rt)
	if _, err := r.ctr.rotate(oldKeyIdx, newKeyIdx); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := r.bl.validate(data, 0, 1<<16, true)
		if err != nil {
			return
		}
		if !r.ctr.KeyUsable(v.keyIndex) || v.rotateTo == v.keyIndex || v.rotateTo >= len(r.bl.keys) || (v.rotateTo >= 0 && (r.ctr.Revoked|r.ctr.Retiring)&(1<<uint(v.rotateTo)) != 0) {
			t.Fatalf("validated: key %d rotate to %d, fuses %+v", v.keyIndex, v.rotateTo, r.ctr.KeyFuses)
		}
	})
}

// TestMCUbootDifferentialRotationTLV runs the one-image differential
// scenarios with images that carry the rotation TLV (naming the rig's
// other provisioned key, so Rampart obeys it): MCUboot boots them exactly
// as Rampart does at every cut point, i.e. it ignores the protected vendor
// TLV, and the rotation changes nothing in what boots.
func TestMCUbootDifferentialRotationTLV(t *testing.T) {
	rot, err := RotateKeyTLV(testKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ver string, sc uint32, size int, load uint32) []byte {
		return makeImage(t, imgSpec{ver: ver, secCnt: sc, size: size, key: ecdsaKey, seed: uint64(sc), tlvs: []image.TLV{rot}, loadAddr: load})
	}
	im := &imageSet{old: [][]byte{mk("1.0.0", 1, 5000, 0)}, new: [][]byte{mk("2.0.0", 2, 6000, 0)}}
	// RAM-load images name where they run (imgtool --load-addr).
	ram := &imageSet{old: [][]byte{mk("1.0.0", 1, 5000, testRAMStart)}, new: [][]byte{mk("2.0.0", 2, 6000, testRAMStart+0x100)}}
	var counts diffCounts
	seen := map[Strategy]bool{} // one scenario per strategy: the TLV is what is tested
	for _, sc := range oracleScenarios() {
		if sc.images != 1 || sc.downgrade || seen[sc.strategy] {
			continue
		}
		seen[sc.strategy] = true
		cfg := layouts[0].config(sc.strategy, 8, 0xff, 1)
		set := im
		if sc.strategy == RAMLoad {
			set = ram
		}
		t.Run(sc.name, func(t *testing.T) {
			runDifferential(t, newOracleRig(t, cfg, ecdsaKey), sc, set, 1, &counts)
		})
	}
	t.Logf("rotation TLV: %d scenario runs, %d cut points, %d boots (Rampart and MCUboot), %s", counts.scenarios, counts.cutPoints, counts.boots, agreement(t))
}
