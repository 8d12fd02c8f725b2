package mcubootoracle

import (
	"errors"
	"testing"

	"rampart/flash"
)

func TestSourceRefusesAWrongTree(t *testing.T) {
	t.Setenv("RAMPART_MCUBOOT", t.TempDir())
	if _, err := Source(); !errors.Is(err, ErrNoSource) {
		t.Fatalf("Source with an empty RAMPART_MCUBOOT: %v, want ErrNoSource", err)
	}
}

func TestConfigArgsRejectsBadConfigs(t *testing.T) {
	for _, c := range []Config{
		{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 8, Images: 3},
		{Strategy: SwapMove, MaxAlign: 4, MaxSectors: 8, Images: 1},
		{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 0, Images: 1},
		{Strategy: "swap-sideways", MaxAlign: 8, MaxSectors: 8, Images: 1},
		// RSA-OAEP without encrypted images, AES-256 with AES-KW: not
		// built (nor without RAMPART_MBEDTLS3).
		{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 8, Images: 1, RSA: true},
		{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 8, Images: 1, Encrypted: true, KW: true, AES256: true},
	} {
		if _, err := c.args("/src", "/glue.c"); err == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}

// TestErasedDeviceBootsNothing runs MCUboot over an erased device: nothing
// to boot, no flash operation, no rule of the flash model broken.
func TestErasedDeviceBootsNothing(t *testing.T) {
	if _, err := Source(); err != nil {
		t.Skipf("MCUboot oracle skipped: %v", err)
	}
	o, err := Open(Config{Strategy: SwapMove, MaxAlign: 8, MaxSectors: 9, Images: 1}) // as boot's uniform-4k layout: one cached build
	if errors.Is(err, ErrNoSource) {
		t.Skipf("MCUboot oracle skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, erased := range []byte{0xff, 0x00} {
		dev, err := flash.New(flash.Geometry{Sectors: []flash.SectorRun{{Size: 4096, Count: 18}}, WriteAlign: 8, ErasedValue: erased})
		if err != nil {
			t.Fatal(err)
		}
		secs := func(n int) []uint32 {
			s := make([]uint32, n)
			for i := range s {
				s[i] = 4096
			}
			return s
		}
		areas := []Area{
			{ID: PrimaryID(0), Off: 0x1000, Size: 9 * 4096, Sectors: secs(9)},
			{ID: SecondaryID(0), Off: 0xa000, Size: 8 * 4096, Sectors: secs(8)},
		}
		ctr := []uint32{0}
		res, err := o.Boot(dev, areas, []byte{0x30}, ctr, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.RC == 0 || res.PowerCut || res.Ops != 0 || res.FlashErr != nil || ctr[0] != 0 {
			t.Errorf("erased %#x: %v (flash error %v, counter %d), want no bootable image and no operation", erased, res, res.FlashErr, ctr[0])
		}
	}
}
