package cli

import (
	"bytes"
	"crypto"
	"path/filepath"
	"testing"

	"rampart/boot"
	"rampart/image"
)

// factoryDevice makes what a factory line holds before provisioning: a
// one-image overwrite-only device in dir/dev whose primary slot holds
// primary. It returns the device's directory.
func factoryDevice(t *testing.T, dir string, primary []byte) string {
	t.Helper()
	cfg, err := boot.ParseConfig([]byte(`{"flash": {"sectors": [{"size": 4096, "count": 20}], "write_align": 8, "erased_value": 255},
	  "strategy": "overwrite-only", "bootloader": {"offset": 0, "size": 8192},
	  "images": [{"id": 0, "name": "SPE", "primary": {"offset": "0x2000", "size": "0x9000"}, "secondary": {"offset": "0xb000", "size": "0x9000"}}]}`), true)
	if err != nil {
		t.Fatal(err)
	}
	devDir := filepath.Join(dir, "dev")
	d, err := boot.CreateDevice(devDir, cfg, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Boot.Install(0, boot.Primary, primary); err != nil {
		t.Fatal(err)
	}
	return devDir
}

// speImage is a 3,000-byte SPE image, version 1.2.0 and security counter 1,
// signed with key.
func speImage(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	v, _ := image.ParseVersion("1.2.0")
	sc := uint32(1)
	res, err := image.Sign(bytes.Repeat([]byte{0x5a}, 3000), &image.SignOptions{SecurityCounter: &sc, Key: key, HeaderSize: 32, PadHeader: true, Version: v, BootRecord: "SPE"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}
