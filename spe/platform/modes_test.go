package platform_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"rampart/boot"
	"rampart/psaclient"
	"rampart/spe/platform"
	"rampart/spe/storage"
	"rampart/swcomponent"
)

// looseDevice makes a device directory as `rampart boot create` left them
// before: directory and keys 0755, flash, map, counters and keys 0644.
func looseDevice(t *testing.T, devDir string) {
	t.Helper()
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
	loosen(t, devDir)
}

// loosen gives every directory under root mode 0755 and every file 0644.
func loosen(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if e.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}

// checkPrivate fails for every directory under root not 0700 and every file
// not 0600.
func checkPrivate(t *testing.T, root string) (files int) {
	t.Helper()
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		want := os.FileMode(0o600)
		if e.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if e.Type()&fs.ModeSocket == 0 && fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	return files
}

// TestStateAndDeviceArePrivate: every file of the SPE holding secrets or
// device data (the state directory's stores, the audit log, the device's
// flash with ITS in it, its counters and boot keys) is 0600 and every
// directory 0700 once the SPE opened them, whatever modes they had; a
// directory others could write to is refused. It failed when the flash file
// (holding ITS on flash) stayed 0644 in a 0755 directory, as `rampart boot
// create` makes them.
func TestStateAndDeviceArePrivate(t *testing.T) {
	root := t.TempDir()
	devDir, stateDir := filepath.Join(root, "device"), filepath.Join(root, "state")
	looseDevice(t, devDir)
	open := func() {
		t.Helper()
		d, err := platform.OpenDevice(devDir)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		p, err := platform.Open(platform.Options{StateDir: stateDir, Device: d, ITSOnFlash: true})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		l, _ := p.Server.Local(-1)
		defer l.Close()
		if err := psaclient.NewITS(l).Set(1, []byte("device secret"), 0); err != nil {
			t.Fatal(err)
		}
		if err := psaclient.NewPS(l).Set(1, []byte("customer data"), 0); err != nil {
			t.Fatal(err)
		}
	}
	open()
	// Everything the SPE made is private; then loosen it all, as an older
	// release or an operator's copy would, and open again.
	checkPrivate(t, stateDir)
	loosen(t, stateDir)
	loosen(t, devDir)
	os.Chmod(filepath.Join(stateDir, platform.HUKFile), 0o600) // a readable HUK is refused: see below
	open()
	if n := checkPrivate(t, stateDir); n < 5 {
		t.Fatalf("only %d files in the state directory", n)
	}
	if n := checkPrivate(t, devDir); n < 3 {
		t.Fatalf("only %d files in the device directory", n)
	}
	// Others could have written: refused, not tightened.
	os.Chmod(filepath.Join(devDir, boot.DeviceKeysDir), 0o777)
	if _, err := platform.OpenDevice(devDir); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("device keys directory writable by others: %v", err)
	}
	os.Chmod(filepath.Join(devDir, boot.DeviceKeysDir), 0o700)
	os.Chmod(filepath.Join(stateDir, platform.PSDir), 0o770)
	if _, err := platform.Open(platform.Options{StateDir: stateDir, BootRecords: []swcomponent.Component{{MeasurementValue: make([]byte, 32), SignerID: make([]byte, 32)}}}); !errors.Is(err, storage.ErrExposed) {
		t.Errorf("PS directory writable by its group: %v", err)
	}
	os.Chmod(filepath.Join(stateDir, platform.PSDir), 0o700)
	os.Chmod(filepath.Join(stateDir, platform.HUKFile), 0o640)
	if _, err := platform.Open(platform.Options{StateDir: stateDir, BootRecords: []swcomponent.Component{{MeasurementValue: make([]byte, 32), SignerID: make([]byte, 32)}}}); err == nil {
		t.Error("a hardware unique key its group could read was accepted")
	}
}
