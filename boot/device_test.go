package boot

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"rampart/image"
)

// TestDeviceDirectory: CreateDevice lays a device directory out (private
// modes, public keys only, the map as JSON) and OpenDevice boots from it.
func TestDeviceDirectory(t *testing.T) {
	cfg := layouts[0].config(SwapMove, 8, 0xff, 1)
	dir := filepath.Join(t.TempDir(), "new", "dev") // a missing parent is made too
	d, err := CreateDevice(dir, cfg, []any{testKey}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.Install(0, Primary, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 3000, seed: 1})); err != nil {
		t.Fatal(err)
	}
	d.Close()

	// Modes: 0700 directories, 0600 files.
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		want := fs.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), want)
		}
		return nil
	})
	// The key file holds the public half only.
	pem, err := os.ReadFile(filepath.Join(dir, DeviceKeysDir, "key00.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := image.ParseKeyPEM(pem); err != nil || !k.(ed25519.PublicKey).Equal(testKey.Public()) {
		t.Fatalf("key file: %T %v", k, err)
	}
	// The map is the config as JSON.
	var back Config
	if b, err := os.ReadFile(filepath.Join(dir, DeviceMapFile)); err != nil || json.Unmarshal(b, &back) != nil || back.Strategy != cfg.Strategy || len(back.Images) != 1 {
		t.Fatalf("map: %v %+v", err, back)
	}
	// A subdirectory among the keys is not a key; keys load in name order.
	os.Mkdir(filepath.Join(dir, DeviceKeysDir, "sub"), 0o700)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pem2, _ := image.MarshalPublicKeyPEM(other.Public())
	os.WriteFile(filepath.Join(dir, DeviceKeysDir, "a-first.pem"), pem2, 0o600)

	d, err = OpenDevice(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Keys) != 2 || !d.Keys[0].(ed25519.PublicKey).Equal(other.Public()) {
		t.Fatalf("keys: %v", d.Keys)
	}
	if res, err := d.Boot.Boot(); err != nil || !res.Images[0].Booted {
		t.Fatalf("boot: %v", err)
	}
	if ctr, _ := LoadCounters(filepath.Join(dir, DeviceOTPFile)); ctr.Fuses != 7 {
		t.Fatalf("fuses %d", ctr.Fuses)
	}
}

// TestCreateDeviceRefuses: an existing directory (its contents would be
// trusted as the device's) and an invalid map are refused before anything
// is written.
func TestCreateDeviceRefuses(t *testing.T) {
	cfg := layouts[0].config(SwapMove, 8, 0xff, 1)
	dir := t.TempDir()
	if _, err := CreateDevice(dir, cfg, nil, 0); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("existing directory: %v", err)
	}
	bad := *cfg
	bad.Images = nil
	if _, err := CreateDevice(filepath.Join(dir, "x"), &bad, nil, 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("invalid map: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("invalid map left a directory: %v", err)
	}
	if _, err := OpenDevice(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("missing device opened")
	}
}
