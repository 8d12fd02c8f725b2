package platform

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"rampart/boot"
	"rampart/flash"
	"rampart/image"
	"rampart/internal/secfile"
	"rampart/spe/storage"
)

// Files of a bootloader device directory (`rampart boot create`, docs/boot.md).
const (
	DeviceMap   = "map.json"
	DeviceFlash = "flash.bin"
	DeviceOTP   = "otp.json"
	DeviceKeys  = "keys"
)

// Device is an opened bootloader device: flash, flash map, boot keys and
// security counters.
type Device struct {
	Dir    string
	Config *boot.Config
	Flash  *flash.Device
	Keys   []any
	Boot   *boot.Bootloader
}

// OpenDevice opens a device directory made by `rampart boot create`. The
// directory holds device data (the flash with its images and, with ITS on
// flash, ITS objects; the security counters; the boot keys): it and its
// keys directory are made 0700 and its files 0600 whatever their modes were,
// and one others could write to (someone could have added a boot key, say)
// is refused.
func OpenDevice(dir string) (*Device, error) {
	if err := privateDevice(dir); err != nil {
		return nil, err
	}
	cfg, err := boot.LoadConfig(filepath.Join(dir, DeviceMap))
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	ctr, err := boot.LoadCounters(filepath.Join(dir, DeviceOTP))
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	keys, err := LoadKeys(filepath.Join(dir, DeviceKeys))
	if err != nil {
		return nil, err
	}
	dev, err := flash.Open(filepath.Join(dir, DeviceFlash))
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	bl, err := boot.New(dev, cfg, keys, ctr)
	if err != nil {
		dev.Close()
		return nil, fmt.Errorf("platform: %w", err)
	}
	return &Device{Dir: dir, Config: cfg, Flash: dev, Keys: keys, Boot: bl}, nil
}

// LoadKeys reads every PEM key in dir, in name order.
func LoadKeys(dir string) ([]any, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("platform: boot keys: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var keys []any
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("platform: boot key: %w", err)
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("platform: boot key %s: %w", e.Name(), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func privateDevice(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, DeviceKeys)} {
		if _, err := os.Stat(d); err != nil {
			continue // a missing directory is reported by what needs it
		}
		if err := storage.PrivateDir(d); err != nil {
			return fmt.Errorf("platform: device: %w", err)
		}
		if err := storage.PrivateFiles(d); err != nil {
			return fmt.Errorf("platform: device: %w", err)
		}
	}
	return nil
}

// Close releases the flash file.
func (d *Device) Close() error { return d.Flash.Close() }

// CreateDevice makes a new device directory: the flash map, an erased
// flash file, blank security counters and the given boot keys (PEM), then
// opens it. It is what `rampart boot create` writes, for tests and demos.
func CreateDevice(dir string, cfg *boot.Config, keyPEMs [][]byte) (*Device, error) {
	if err := secfile.MkdirAll(dir); err != nil { // its flash holds the device's internal trusted storage
		return nil, fmt.Errorf("platform: %w", err)
	}
	if err := secfile.MkdirAll(filepath.Join(dir, DeviceKeys)); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	m, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if err := secfile.WriteFile(filepath.Join(dir, DeviceMap), m); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	for i, k := range keyPEMs {
		if err := secfile.WriteFile(filepath.Join(dir, DeviceKeys, fmt.Sprintf("key%d.pem", i)), k); err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
	}
	if err := boot.NewCounters(len(cfg.Images), 0).SaveAs(filepath.Join(dir, DeviceOTP)); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	dev, err := flash.Create(filepath.Join(dir, DeviceFlash), cfg.Flash)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	dev.Close()
	return OpenDevice(dir)
}
