package boot

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"rampart/flash"
	"rampart/image"
	"rampart/internal/secfile"
)

// The files of a device directory: a simulated device as the bootloader
// sees it (docs/boot.md §9). `rampart boot` works on one, and the SPE
// (spe/platform) boots from one and keeps ITS in its flash.
const (
	DeviceMapFile   = "map.json"  // the validated flash map (JSON)
	DeviceFlashFile = "flash.bin" // the flash (flash's file format)
	DeviceOTPFile   = "otp.json"  // the security counters' fuse rows
	DeviceKeysDir   = "keys"      // the boot keys, one PEM file each, read in name order
	// DeviceDecryptKeyFile is the device's private decrypt key for
	// encrypted images (PKCS#8 PEM, 0600), when one is provisioned.
	DeviceDecryptKeyFile = "enc-key.pem"
)

// Device is an opened device directory: its flash, flash map, boot keys and
// the bootloader over them (with the security counters).
type Device struct {
	Dir    string
	Config *Config
	Flash  *flash.Device
	Keys   []any
	Boot   *Bootloader
}

// CreateDevice makes a new device directory, which must not exist yet:
// the flash map, an erased flash file with its geometry, security counters
// at zero with fuses rows each (0: DefaultFuses) and the public half of
// each key; then it opens it. The directory holds device data (the flash
// may hold ITS objects in clear): directories are 0700 and files 0600.
func CreateDevice(dir string, cfg *Config, keys []any, fuses int) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pems, err := publicKeyPEMs(keys)
	if err != nil {
		return nil, err
	}
	if err := makeDeviceDirs(dir); err != nil {
		return nil, err
	}
	if len(pems) > MaxKeys {
		return nil, fmt.Errorf("boot: %d keys: at most %d have OTP key fuses", len(pems), MaxKeys)
	}
	for i, pem := range pems {
		// key00.pem, key01.pem...: name order is the key's index, which
		// its OTP key fuses are bound to (key%d would put key10 before key2).
		if err := secfile.WriteFile(filepath.Join(dir, DeviceKeysDir, fmt.Sprintf("key%02d.pem", i)), pem); err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	if err := secfile.WriteFile(filepath.Join(dir, DeviceMapFile), append(js, '\n')); err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	if err := NewCounters(len(cfg.Images), fuses).SaveAs(filepath.Join(dir, DeviceOTPFile)); err != nil {
		return nil, err
	}
	dev, err := flash.Create(filepath.Join(dir, DeviceFlashFile), cfg.Flash)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	dev.Close()
	return OpenDevice(dir)
}

// publicKeyPEMs encodes the public half of each key: a device directory
// never holds a private key.
func publicKeyPEMs(keys []any) ([][]byte, error) {
	var pems [][]byte
	for i, k := range keys {
		pem, err := image.MarshalPublicKeyPEM(k)
		if err != nil {
			return nil, fmt.Errorf("boot: key %d: %w", i, err)
		}
		pems = append(pems, pem)
	}
	return pems, nil
}

// makeDeviceDirs creates dir (0700, refusing one that exists: its
// contents would be trusted) and its keys directory. Missing parents are
// made 0700 too; existing ones are left as they are.
func makeDeviceDirs(dir string) error {
	if parent := filepath.Dir(dir); !exists(parent) {
		if err := secfile.MkdirAll(parent); err != nil {
			return fmt.Errorf("boot: %w", err)
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("boot: device directory: %w", err)
	}
	if err := secfile.Tighten(dir); err != nil { // exactly 0700 whatever the umask
		return fmt.Errorf("boot: %w", err)
	}
	if err := secfile.MkdirAll(filepath.Join(dir, DeviceKeysDir)); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// OpenDevice opens a device directory made by [CreateDevice]: it reads the
// flash map, the counters and the keys, opens the flash and makes the
// bootloader. It changes no mode; a caller that must not trust a directory
// others could write (the SPE) checks that first.
func OpenDevice(dir string) (*Device, error) {
	cfg, err := LoadConfig(filepath.Join(dir, DeviceMapFile))
	if err != nil {
		return nil, err
	}
	ctr, err := LoadCounters(filepath.Join(dir, DeviceOTPFile))
	if err != nil {
		return nil, err
	}
	keys, err := LoadKeys(filepath.Join(dir, DeviceKeysDir))
	if err != nil {
		return nil, err
	}
	dev, err := flash.Open(filepath.Join(dir, DeviceFlashFile))
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	bl, err := New(dev, cfg, keys, ctr)
	if err != nil {
		dev.Close()
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, DeviceDecryptKeyFile)); err == nil {
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			dev.Close()
			return nil, fmt.Errorf("boot: decrypt key %s: %w", filepath.Join(dir, DeviceDecryptKeyFile), err)
		}
		bl.SetDecryptKey(k)
	} else if !os.IsNotExist(err) {
		dev.Close()
		return nil, fmt.Errorf("boot: decrypt key: %w", err)
	}
	return &Device{Dir: dir, Config: cfg, Flash: dev, Keys: keys, Boot: bl}, nil
}

// LoadKeys reads every regular file in dir, in name order, as a PEM key.
func LoadKeys(dir string) ([]any, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("boot: keys: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var keys []any
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("boot: key: %w", err)
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("boot: key %s: %w", filepath.Join(dir, e.Name()), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ProvisionDecryptKey stores priv, the private key whose public half the
// release pipeline gives imgtool --encrypt, as the device's decrypt key
// (DeviceDecryptKeyFile, 0600: the one private key a device directory
// holds, as a device holds it in its bootloader) and hands it to the
// bootloader.
func (d *Device) ProvisionDecryptKey(priv any) error {
	pem, err := image.MarshalPrivateKeyPEM(priv)
	if err != nil {
		return fmt.Errorf("boot: decrypt key: %w", err)
	}
	if err := secfile.WriteFile(filepath.Join(d.Dir, DeviceDecryptKeyFile), pem); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	d.Boot.SetDecryptKey(priv)
	return nil
}

// ProvisionNextKeys programs the pending fuse of each key index in next:
// the factory provisions them as next release keys, refused until an
// update signed by a usable key activates them (docs/boot.md §7a).
func (d *Device) ProvisionNextKeys(next ...int) error {
	for _, k := range next {
		if k < 0 || k >= len(d.Keys) {
			return fmt.Errorf("%w: key index %d: the device has %d keys", ErrKeyFuse, k, len(d.Keys))
		}
		if err := d.Boot.Counters().MarkPending(k); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the flash file.
func (d *Device) Close() error { return d.Flash.Close() }
