package mcubootoracle

import "fmt"

// MCUboot's simulator flash-area ids (csupport/devicetree.h).
const (
	areaImage0  = 1
	areaImage1  = 2
	areaScratch = 3
	areaImage2  = 4
	areaImage3  = 5
)

// Area is one flash area MCUboot opens: a slot with its sectors' sizes in
// address order.
type Area struct {
	ID      uint8
	Off     uint32
	Size    uint32
	Sectors []uint32
}

// PrimaryID and SecondaryID are the flash-area ids of image i's slots.
func PrimaryID(i int) uint8 {
	if i == 0 {
		return areaImage0
	}
	return areaImage2
}

// SecondaryID is the flash-area id of image i's secondary slot.
func SecondaryID(i int) uint8 {
	if i == 0 {
		return areaImage1
	}
	return areaImage3
}

// ScratchID is the flash-area id of the scratch area.
const ScratchID uint8 = areaScratch

// Result is what one run of MCUboot's boot_go did.
type Result struct {
	// RC is boot_go's return code: 0 means an image was chosen to boot.
	RC int
	// PowerCut is set when the run was stopped by the requested cut.
	PowerCut bool
	// ImageOff is the flash offset of the image to boot (when RC is 0).
	ImageOff uint32
	// Ops is the number of writes and erases MCUboot attempted (with a cut,
	// the cut one included).
	Ops int
	// FlashErr is the first operation Rampart's flash model refused (a
	// misaligned write, a write to programmed bytes, an erase that is not
	// whole sectors): MCUboot broke a rule of the flash part.
	FlashErr error
	// ReadsRefused counts MCUboot's reads past the end of the device,
	// which failed (MCUboot's simulator refuses them too) and which MCUboot
	// handled as read errors.
	ReadsRefused int
}

func (r Result) String() string {
	switch {
	case r.PowerCut:
		return fmt.Sprintf("power cut after %d operations", r.Ops)
	case r.RC == 0:
		return fmt.Sprintf("boot image at %#x (%d operations)", r.ImageOff, r.Ops)
	}
	return fmt.Sprintf("no bootable image (rc %d, %d operations)", r.RC, r.Ops)
}

// powerCutRC is what the simulator's invoke_boot_go returns after a cut;
// refusedRC what the glue's oracle_boot returns for a layout it cannot hold.
const (
	powerCutRC = -0x13579
	refusedRC  = -0x2468
)
