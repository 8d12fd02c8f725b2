package mcubootoracle

import "testing"

func TestProbeBuilds(t *testing.T) {
	for _, c := range []Config{
		{Strategy: RAMLoad, Encrypted: true},
		{Strategy: RAMLoadRevert},
		{Strategy: RAMLoadRevert, Encrypted: true},
		{Strategy: DirectXIP, Encrypted: true},
		{Strategy: DirectXIPRevert, Encrypted: true},
		{Strategy: SwapScratch, Encrypted: true},
		{Strategy: SwapOffset, Encrypted: true},
		{Strategy: RAMLoad, Images: 2},
		{Strategy: DirectXIP, Images: 2},
	} {
		if c.Images == 0 {
			c.Images = 1
		}
		c.MaxAlign, c.MaxSectors = 8, 9
		_, err := Build(c)
		t.Logf("%+v: %v", c, err)
	}
}
