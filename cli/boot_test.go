package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"rampart/boot"
	"rampart/image"
	"rampart/swcomponent"
)

const bootTestMap = `flash:
  sectors: [{size: 0x1000, count: 40}]
  write_align: 8
  erased_value: 0xff
strategy: swap-move
bootloader: {offset: 0, size: 0x2000}
images:
  - id: 0
    name: SPE
    primary:   {offset: 0x2000, size: 0x9000}
    secondary: {offset: 0xb000, size: 0x8000}
`

// bootTestDevice writes a key, a map and three signed images to a temp dir
// and creates a device there.
func bootTestDevice(t *testing.T) (dir string, imgs map[string]string) {
	dir = t.TempDir()
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pem, err := image.MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pem")
	mustWrite(t, key, pem)
	mustWrite(t, filepath.Join(dir, "map.yaml"), []byte(bootTestMap))
	imgs = map[string]string{}
	for i, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		ver, _ := image.ParseVersion(v)
		sc := ver.SecurityCounter()
		res, err := image.Sign(make([]byte, 3000+100*i), &image.SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, Version: ver, SecurityCounter: &sc})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, v+".bin")
		mustWrite(t, p, res.Bytes)
		imgs[v] = p
	}
	dev := filepath.Join(dir, "dev")
	if code, out, errs := run(t, "boot", "create", "--map", filepath.Join(dir, "map.yaml"), "--key", key, dev); code != 0 {
		t.Fatalf("create: %d %s %s", code, out, errs)
	}
	checkPrivate(t, dev)
	return dev, imgs
}

// checkPrivate: a device directory (its flash holds the internal trusted
// storage) has only 0700 directories and 0600 files; boot create wrote
// the keys and the map 0644, the counters and the flash too.
func checkPrivate(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil || n < 6 {
		t.Fatalf("walked %d entries of %s: %v", n, dir, err)
	}
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := run(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func bootRunJSON(t *testing.T, dev string) (booted bool, action, version string, ctr uint32) {
	t.Helper()
	out := mustRun(t, "boot", "run", "--json", dev)
	var res struct {
		Booted bool
		Images []boot.ImageReport
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	im := res.Images[0]
	return res.Booted, im.Action.String(), im.Version, im.DeviceCounter
}

// TestBootCLIConfirmedAndRevertedUpgrades takes a device from first boot
// through a confirmed upgrade and through a reverted one.
func TestBootCLIConfirmedAndRevertedUpgrades(t *testing.T) {
	dev, imgs := bootTestDevice(t)
	mustRun(t, "boot", "install", "--slot", "primary", dev, imgs["1.0.0"])
	if ok, act, ver, ctr := bootRunJSON(t, dev); !ok || act != "none" || ver != "1.0.0+0" || ctr != 1<<24 {
		t.Fatalf("first boot: %v %s %s %#x", ok, act, ver, ctr)
	}
	// Confirmed upgrade.
	mustRun(t, "boot", "install", dev, imgs["1.1.0"])
	mustRun(t, "boot", "request", "--test", dev)
	if _, act, ver, ctr := bootRunJSON(t, dev); act != "test" || ver != "1.1.0+0" || ctr != 1<<24 {
		t.Fatalf("test boot: %s %s %#x", act, ver, ctr)
	}
	mustRun(t, "boot", "confirm", dev)
	if _, act, ver, ctr := bootRunJSON(t, dev); act != "none" || ver != "1.1.0+0" || ctr != 1<<24|1<<16 {
		t.Fatalf("after confirm: %s %s %#x", act, ver, ctr)
	}
	// Reverted upgrade.
	mustRun(t, "boot", "install", dev, imgs["1.2.0"])
	mustRun(t, "boot", "request", "--test", dev)
	if _, act, ver, _ := bootRunJSON(t, dev); act != "test" || ver != "1.2.0+0" {
		t.Fatalf("second test boot: %s %s", act, ver)
	}
	recs := filepath.Join(t.TempDir(), "records.cbor")
	out := mustRun(t, "boot", "run", "--records", recs, dev)
	if !strings.Contains(out, "action revert") || !strings.Contains(out, "booted 1.1.0+0") || !strings.Contains(out, "reverting") {
		t.Fatalf("revert boot:\n%s", out)
	}
	b, err := os.ReadFile(recs)
	if err != nil {
		t.Fatal(err)
	}
	var rr []swcomponent.Component
	if err := cbor.Unmarshal(b, &rr); err != nil || len(rr) != 1 || rr[0].Version != "1.1.0" || len(rr[0].SignerID) != 32 {
		t.Fatalf("records: %v %+v", err, rr)
	}
	show := mustRun(t, "boot", "show", dev)
	if !strings.Contains(show, "next boot: none") || !strings.Contains(show, "valid 1.2.0+0") {
		t.Fatalf("show:\n%s", show)
	}
	var st []boot.ImageState
	if err := json.Unmarshal([]byte(mustRun(t, "boot", "show", "--json", dev)), &st); err != nil || st[0].Primary.Version != "1.1.0+0" || st[0].DeviceCounter != 1<<24|1<<16 {
		t.Fatalf("show --json: %v %+v", err, st)
	}
}

func TestBootCLIErrors(t *testing.T) {
	dev, imgs := bootTestDevice(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"boot", "run", filepath.Join(t.TempDir(), "nope")}, ExitError},
		{[]string{"boot", "request", dev}, ExitUsage},
		{[]string{"boot", "request", "--test", "--permanent", dev}, ExitUsage},
		{[]string{"boot", "install", "--slot", "tertiary", dev, imgs["1.0.0"]}, ExitUsage},
		{[]string{"boot", "install", "--image", "4", dev, imgs["1.0.0"]}, ExitUsage},
		{[]string{"boot", "run", dev}, ExitFailure}, // empty flash: nothing to boot
		{[]string{"boot", "create", dev}, ExitUsage},
		{[]string{"boot", "create", "--map", "/nonexistent.yaml", "--key", "k", dev}, ExitError},
	} {
		code, _, errs := run(t, c.args...)
		if code != c.code || !strings.HasPrefix(errs, "rampart: ") {
			t.Errorf("%v: exit %d, want %d; stderr %q", c.args, code, c.code, errs)
		}
	}
	big := filepath.Join(t.TempDir(), "big.bin")
	mustWrite(t, big, make([]byte, 0x8001))
	if code, _, _ := run(t, "boot", "install", dev, big); code != ExitFailure {
		t.Errorf("oversized install: exit %d", code)
	}
	for _, sub := range []string{"create", "install", "request", "run", "confirm", "show"} {
		_, out, _ := run(t, "boot", sub, "--help")
		if !strings.Contains(out, "Examples:") {
			t.Errorf("boot %s --help has no examples", sub)
		}
	}
}

// TestBootRefusalHints: an image the bootloader refuses for lack of a
// security counter gets a hint that says how to sign one, not a generic
// "install a valid image".
func TestBootRefusalHints(t *testing.T) {
	dev, _ := bootTestDevice(t)
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	ver, _ := image.ParseVersion("1.0.0")
	res, err := image.Sign(make([]byte, 3000), &image.SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, Version: ver})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "no-counter.bin")
	mustWrite(t, p, res.Bytes)
	mustRun(t, "boot", "install", "--slot", "primary", dev, p)
	code, _, errs := run(t, "boot", "run", dev)
	if code != ExitFailure || !strings.Contains(errs, "no security counter") || !strings.Contains(errs, "hint: sign the image with a security counter") || !strings.Contains(errs, "-s auto") {
		t.Fatalf("boot run of an image without a security counter: %d %q", code, errs)
	}
}

// TestBootEncryptedImage: a device created with --decrypt-key installs an
// image encrypted for that key (ECIES-X25519, as imgtool pairs it with
// Ed25519 signing): the bootloader decrypts it while swapping and boots it.
func TestBootEncryptedImage(t *testing.T) {
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	dec, err := image.GenerateKey(image.KeyX25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pem")
	decFile := filepath.Join(dir, "dec.pem")
	for p, k := range map[string]any{key: priv, decFile: dec} {
		pem, err := image.MarshalPrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, p, pem)
	}
	mustWrite(t, filepath.Join(dir, "map.yaml"), []byte(bootTestMap+"encrypted_images: true\n"))
	imgs := map[string]string{}
	for i, v := range []string{"1.0.0", "1.1.0"} {
		ver, _ := image.ParseVersion(v)
		sc := ver.SecurityCounter()
		o := &image.SignOptions{Key: priv, HeaderSize: 32, PadHeader: true, Version: ver, SecurityCounter: &sc}
		if i == 1 {
			o.EncryptKey = dec
		}
		res, err := image.Sign(bytes.Repeat([]byte("firmware"), 400+10*i), o)
		if err != nil {
			t.Fatal(err)
		}
		imgs[v] = filepath.Join(dir, v+".bin")
		mustWrite(t, imgs[v], res.Bytes)
	}
	dev := filepath.Join(dir, "dev")
	mustRun(t, "boot", "create", "--map", filepath.Join(dir, "map.yaml"), "--key", key, "--decrypt-key", decFile, dev)
	checkPrivate(t, dev)
	mustRun(t, "boot", "install", "--slot", "primary", dev, imgs["1.0.0"])
	mustRun(t, "boot", "install", dev, imgs["1.1.0"])
	mustRun(t, "boot", "request", "--test", dev)
	if booted, action, version, _ := bootRunJSON(t, dev); !booted || action != "test" || version != "1.1.0+0" {
		t.Fatalf("booted %v, action %s, version %s", booted, action, version)
	}
}

// TestBootCLIKeyRotation provisions a next release key with boot create
// --next-key, makes the rotating update with image getpubhash and image
// sign --custom-tlv, and follows the key states in boot show until the old
// key is revoked and its image refused.
func TestBootCLIKeyRotation(t *testing.T) {
	dir := t.TempDir()
	keyFile := func(name string, seed byte) (string, ed25519.PrivateKey) {
		priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
		pem, err := image.MarshalPrivateKeyPEM(priv)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		mustWrite(t, p, pem)
		return p, priv
	}
	oldKey, _ := keyFile("old.pem", 1)
	newKey, _ := keyFile("new.pem", 2)
	mustWrite(t, filepath.Join(dir, "map.yaml"), []byte(bootTestMap))
	mustWrite(t, filepath.Join(dir, "fw.bin"), make([]byte, 3000))
	hash := hex.EncodeToString([]byte(mustRun(t, "image", "getpubhash", "-k", newKey, "-e", "raw")))
	sign := func(key, ver string, extra ...string) string {
		out := filepath.Join(dir, ver+".bin")
		args := append([]string{"image", "sign", "--key", key, "--header-size", "32", "--pad-header", "--slot-size", "0x8000", "--version", ver, "--security-counter", "auto"}, extra...)
		mustRun(t, append(args, filepath.Join(dir, "fw.bin"), out)...)
		return out
	}
	v1, v15 := sign(oldKey, "1.0.0"), sign(newKey, "1.5.0")
	v2 := sign(oldKey, "2.0.0", "--custom-tlv", fmt.Sprintf("0x%04x", boot.TLVRotateKey), "0x"+hash)
	v3, v4 := sign(newKey, "3.0.0"), sign(oldKey, "4.0.0")
	dev := filepath.Join(dir, "dev")
	if out := mustRun(t, "boot", "create", "--map", filepath.Join(dir, "map.yaml"), "--key", oldKey, "--next-key", newKey, dev); !strings.Contains(out, "release keys: 0:active 1:pending") {
		t.Fatalf("create:\n%s", out)
	}
	mustRun(t, "boot", "install", "--slot", "primary", dev, v1)
	mustRun(t, "boot", "run", dev)
	update := func(img, wantVer, wantKeys string) {
		t.Helper()
		mustRun(t, "boot", "install", dev, img)
		mustRun(t, "boot", "request", "--test", dev)
		mustRun(t, "boot", "run", dev)
		mustRun(t, "boot", "confirm", dev)
		mustRun(t, "boot", "run", dev)
		show := mustRun(t, "boot", "show", dev)
		if !strings.Contains(show, "valid "+wantVer) || !strings.Contains(show, "release keys: "+wantKeys) {
			t.Fatalf("after %s, want keys %s:\n%s", wantVer, wantKeys, show)
		}
	}
	update(v15, "1.0.0+0", "0:active 1:pending")
	update(v2, "2.0.0+0", "0:retiring 1:active")
	update(v3, "3.0.0+0", "0:revoked 1:active")
	mustRun(t, "boot", "install", dev, v4)
	if show := mustRun(t, "boot", "show", dev); !strings.Contains(show, "signing key revoked") {
		t.Fatalf("the revoked key's image:\n%s", show)
	}
}
