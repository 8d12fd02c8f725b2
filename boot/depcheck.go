package boot

import (
	"encoding/binary"
	"errors"
	"fmt"

	"rampart/image"
)

// The swap modes' dependency check, as MCUboot's boot_verify_dependencies
// (loader.c, MCUBOOT_IMAGE_NUMBER > 1, neither direct-XIP nor ram-load).
// It reads each image's DEPENDENCY TLVs from the raw header and TLV info of
// the slot the image will boot from, without validating the image, and the
// versions it compares from the raw headers too: an unreadable TLV area is
// a failure like an unmet dependency, and any failure cancels every
// image's upgrade and revert, not only the failing image's.

// errDepTLVs is a TLV area MCUboot's bootutil_tlv_iter could not walk.
var errDepTLVs = errors.New("boot: the TLV area the dependency check reads is unreadable")

// TLV info magics and the DEPENDENCY TLV as MCUboot's image.h has them.
const (
	tlvInfoMagic     = 0x6907
	tlvProtInfoMagic = 0x6908
	tlvDependency    = 0x40
	depTLVLen        = 12 // struct image_dependency
)

// rawHeader is what MCUboot's dependency check takes from an image header
// (struct image_header), as the bytes are.
type rawHeader struct {
	hdrSize, protSize uint16
	imgSize           uint32
	ver               image.Version
}

func parseRawHeader(b []byte) rawHeader {
	le := binary.LittleEndian
	return rawHeader{hdrSize: le.Uint16(b[8:]), protSize: le.Uint16(b[10:]), imgSize: le.Uint32(b[12:]),
		ver: rawVersion(b[20:])}
}

// rawVersion is a struct image_version.
func rawVersion(b []byte) image.Version {
	le := binary.LittleEndian
	return image.Version{Major: b[0], Minor: b[1], Revision: le.Uint16(b[2:]), Build: le.Uint32(b[4:])}
}

// bootSlot is the slot image i boots from once the swap types are final,
// as boot_verify_dependencies chooses it (the secondary for an upgrade or
// a revert, else the primary), and where its header is in that slot.
func (b *Bootloader) bootSlot(i int, s *imageState) (*slot, uint32, error) {
	im := b.l.images[i]
	if !depUpgrade(s) {
		return im.primary, 0, nil
	}
	if b.l.strategy != SwapOffset {
		return im.secondary, 0, nil
	}
	off, err := b.io.secondaryImageOff(im, s.action == SwapRevert)
	return im.secondary, off, err
}

// depUpgrade: MCUboot's BOOT_IS_UPGRADE of the swap type; a swap resumed
// and finished this boot has swap type none there.
func depUpgrade(s *imageState) bool {
	return !s.resumed && (s.action == SwapTest || s.action == SwapPerm || s.action == SwapRevert)
}

// readSlotBytes reads n bytes at off of s, refusing what lies outside the
// slot as a port's flash_area_read does (off may have wrapped around).
func (b *Bootloader) readSlotBytes(s *slot, off uint32, n int) ([]byte, error) {
	if off > s.size || uint32(n) > s.size-off {
		return nil, fmt.Errorf("%w: read [%#x, +%d) outside the slot", errDepTLVs, off, n)
	}
	return b.io.read(s, off, n)
}

// slotDeps returns the DEPENDENCY TLVs of the image whose header is at
// hoff in s, walking its protected TLVs as bootutil_tlv_iter_begin and
// bootutil_tlv_iter_next do (the TLV area at hdr_size + img_size, in
// 32-bit arithmetic, past hoff), and the header's version.
func (b *Bootloader) slotDeps(s *slot, hoff uint32) ([]image.Dependency, error) {
	hb, err := b.readSlotBytes(s, hoff, 32)
	if err != nil {
		return nil, err
	}
	h := parseRawHeader(hb)
	off := uint32(h.hdrSize) + h.imgSize + hoff
	info, err := b.readSlotBytes(s, off, 4)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	magic, tot := le.Uint16(info), le.Uint16(info[2:])
	if magic == tlvProtInfoMagic {
		if h.protSize != tot {
			return nil, fmt.Errorf("%w: protected TLV size %d, header says %d", errDepTLVs, tot, h.protSize)
		}
		if info, err = b.readSlotBytes(s, off+uint32(tot), 4); err != nil {
			return nil, err
		}
		magic = le.Uint16(info)
	} else if h.protSize != 0 {
		return nil, fmt.Errorf("%w: no protected TLV area, header says %d bytes", errDepTLVs, h.protSize)
	}
	if magic != tlvInfoMagic {
		return nil, fmt.Errorf("%w: TLV info magic %#04x", errDepTLVs, magic)
	}
	var deps []image.Dependency
	end := off + uint32(h.protSize)
	for at := off + 4; at < end; {
		if 4 > end-at {
			return nil, fmt.Errorf("%w: TLV header at %#x overruns the protected area", errDepTLVs, at)
		}
		t, err := b.readSlotBytes(s, at, 4)
		if err != nil {
			return nil, err
		}
		typ, n := le.Uint16(t), uint32(le.Uint16(t[2:]))
		if n > end-at-4 {
			return nil, fmt.Errorf("%w: TLV at %#x overruns the protected area", errDepTLVs, at)
		}
		if typ == tlvDependency {
			if n != depTLVLen {
				return nil, fmt.Errorf("%w: a DEPENDENCY TLV of %d bytes", ErrDependency, n)
			}
			v, err := b.readSlotBytes(s, at+4, depTLVLen)
			if err != nil {
				return nil, err
			}
			deps = append(deps, image.Dependency{ImageID: v[0], Version: rawVersion(v[4:])})
		}
		at += 4 + n
	}
	return deps, nil
}

// checkDependencies is MCUboot's boot_verify_dependencies for the swap
// modes. With two images or more, when some image upgrades or reverts,
// each image's dependencies, in index order, are read from the slot it
// will boot from and compared (major.minor.revision) with the version in
// the header of the slot the depended-on image will boot from. The first
// failure (the TLVs unreadable, a DEPENDENCY TLV not 12 bytes long, an
// image index the device does not have, a version too low) cancels every
// image's upgrade and revert.
func (b *Bootloader) checkDependencies(st []imageState, res *Result) {
	if len(st) < 2 {
		// MCUboot builds boot_verify_dependencies only for
		// MCUBOOT_IMAGE_NUMBER > 1: one image's DEPENDENCY TLVs are ignored.
		return
	}
	upgrade := false
	for i := range st {
		upgrade = upgrade || depUpgrade(&st[i])
	}
	if !upgrade {
		return
	}
	for i := range st {
		err := b.imageDepsMet(i, st)
		if err == nil {
			continue
		}
		res.Images[i].note("dependency check failed: %v: no image is upgraded or reverted", err)
		for j := range st {
			if depUpgrade(&st[j]) {
				res.Images[j].note("%s cancelled: image %d's dependency check failed", st[j].action, i)
				st[j].action, st[j].cand = SwapNone, nil
			}
		}
		return
	}
}

// imageDepsMet checks image i's dependencies (boot_verify_slot_dependencies).
func (b *Bootloader) imageDepsMet(i int, st []imageState) error {
	s, hoff, err := b.bootSlot(i, &st[i])
	if err != nil {
		return err
	}
	deps, err := b.slotDeps(s, hoff)
	if err != nil {
		return err
	}
	for _, d := range deps {
		if int(d.ImageID) >= len(st) {
			return fmt.Errorf("%w: dependency %s on an image the device does not have", ErrDependency, d)
		}
		ds, dhoff, err := b.bootSlot(int(d.ImageID), &st[d.ImageID])
		if err != nil {
			return err
		}
		hb, err := b.readSlotBytes(ds, dhoff, 32)
		if err != nil {
			return err
		}
		if v := parseRawHeader(hb).ver; v.Compare(d.Version, false) < 0 {
			return fmt.Errorf("%w: dependency %s, image %d boots %s", ErrDependency, d, d.ImageID, v)
		}
	}
	return nil
}

// protectedDeps returns the image's protected DEPENDENCY TLVs, as MCUboot's
// dependency check reads them: an unprotected one is not looked at, and
// one whose length is not 12 is an error (BOOT_EBADIMAGE), which fails the
// check rather than the image's validation.
func protectedDeps(img *image.Image) ([]image.Dependency, error) {
	var out []image.Dependency
	for _, t := range img.Protected.Find(image.TLVDependency) {
		if len(t.Value) != depTLVLen {
			return nil, fmt.Errorf("%w: a DEPENDENCY TLV of %d bytes", ErrDependency, len(t.Value))
		}
		out = append(out, image.Dependency{ImageID: t.Value[0], Version: rawVersion(t.Value[4:])})
	}
	return out, nil
}
