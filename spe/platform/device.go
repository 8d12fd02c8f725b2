package platform

import (
	"fmt"
	"os"
	"path/filepath"

	"rampart/boot"
	"rampart/spe/storage"
)

// OpenDevice opens a bootloader device directory (boot's layout, made by
// boot.CreateDevice or `rampart boot create`) for the SPE. The directory
// holds the SPE's data (the flash with its images and, with ITS on flash,
// ITS objects; the security counters; the boot keys): it and its keys
// directory are made 0700 and its files 0600 whatever their modes were,
// and one others could write to (someone could have added a boot key, say)
// is refused with storage.ErrExposed.
func OpenDevice(dir string) (*boot.Device, error) {
	if err := privateDevice(dir); err != nil {
		return nil, err
	}
	d, err := boot.OpenDevice(dir)
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	return d, nil
}

func privateDevice(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, boot.DeviceKeysDir)} {
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
