package flash

import (
	"errors"
	"fmt"
)

// MaxWriteAlign is the largest write alignment the model supports (MCUboot's
// BOOT_MAX_ALIGN upper bound).
const MaxWriteAlign = 32

// SectorRun is Count consecutive sectors of Size bytes each.
type SectorRun struct {
	Size  uint32 `json:"size" yaml:"size"`
	Count int    `json:"count" yaml:"count"`
}

// Geometry describes a flash part: its sectors in address order, the write
// alignment and the value erased bytes read as.
type Geometry struct {
	Sectors     []SectorRun `json:"sectors" yaml:"sectors"`
	WriteAlign  int         `json:"write_align" yaml:"write_align"`
	ErasedValue byte        `json:"erased_value" yaml:"erased_value"`
}

// Sector is one erase unit: its offset from the start of the device and its size.
type Sector struct {
	Off  uint32 `json:"off"`
	Size uint32 `json:"size"`
}

// maxDeviceSize bounds a modelled device (256 MiB) so a hostile geometry
// cannot make the model allocate without limit.
const maxDeviceSize = 256 << 20

// ErrGeometry is wrapped by every geometry validation error.
var ErrGeometry = errors.New("flash: invalid geometry")

// Validate checks g and returns its total size.
func (g Geometry) Validate() (uint32, error) {
	if g.WriteAlign < 1 || g.WriteAlign > MaxWriteAlign || g.WriteAlign&(g.WriteAlign-1) != 0 {
		return 0, fmt.Errorf("%w: write_align %d is not a power of two in 1..%d", ErrGeometry, g.WriteAlign, MaxWriteAlign)
	}
	if g.ErasedValue != 0xFF && g.ErasedValue != 0x00 {
		return 0, fmt.Errorf("%w: erased_value %#x is neither 0xff nor 0x00", ErrGeometry, g.ErasedValue)
	}
	if len(g.Sectors) == 0 {
		return 0, fmt.Errorf("%w: sectors is empty", ErrGeometry)
	}
	var total uint64
	for i, r := range g.Sectors {
		if r.Size == 0 || r.Size%uint32(g.WriteAlign) != 0 {
			return 0, fmt.Errorf("%w: sectors[%d].size %d is zero or not a multiple of write_align %d", ErrGeometry, i, r.Size, g.WriteAlign)
		}
		if r.Count < 1 {
			return 0, fmt.Errorf("%w: sectors[%d].count %d is below 1", ErrGeometry, i, r.Count)
		}
		total += uint64(r.Size) * uint64(r.Count)
		if total > maxDeviceSize {
			return 0, fmt.Errorf("%w: device larger than %d bytes", ErrGeometry, maxDeviceSize)
		}
	}
	return uint32(total), nil
}

// SectorList expands the runs into individual sectors in address order.
// Validate the geometry first.
func (g Geometry) SectorList() []Sector {
	var out []Sector
	var off uint32
	for _, r := range g.Sectors {
		for range r.Count {
			out = append(out, Sector{Off: off, Size: r.Size})
			off += r.Size
		}
	}
	return out
}
