package boot

import (
	"encoding/binary"
	"fmt"
	"testing"

	"rampart/image"
)

// TestReadImageValidatesAsWholeSlot: State reads only the image's extent of
// a slot (readImage); for valid, corrupted and malformed slot contents the
// validation of that extent must give what the validation of the whole slot
// gives (the same image, or the same error).
func TestReadImageValidatesAsWholeSlot(t *testing.T) {
	ls := layoutSpec{name: "readimage", bootSector: 4096, slotSector: []uint32{4096}, priSectors: []int{17}, secSectors: []int{16}, storageSector: 4096}
	good := makeImage(t, imgSpec{ver: "1.2.3", secCnt: 3, size: 5000, record: "SPE"})
	end := int(binary.LittleEndian.Uint16(good[12:])) + int(binary.LittleEndian.Uint32(good[16:])) // header + body
	cases := map[string]func([]byte) []byte{
		"valid":               func(b []byte) []byte { return b },
		"body byte flipped":   func(b []byte) []byte { b[100] ^= 1; return b },
		"signature flipped":   func(b []byte) []byte { b[len(b)-5] ^= 1; return b },
		"TLV total too large": func(b []byte) []byte { binary.LittleEndian.PutUint16(b[end+2:], 0xfff0); return b },
		"TLV total too small": func(b []byte) []byte { binary.LittleEndian.PutUint16(b[end+2:], 8); return b },
		"TLV magic wrong":     func(b []byte) []byte { b[end] ^= 0xff; return b },
		"body beyond slot":    func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0x7fff0); return b },
		"garbage after image": func(b []byte) []byte { return append(b, 1, 2, 3, 4, 5, 6, 7, 8) },
		"header only":         func(b []byte) []byte { return b[:40] },
		"no header":           func(b []byte) []byte { return append([]byte{1, 2, 3, 4, 5, 6, 7, 8}, b...) },
	}
	for name, mutate := range cases {
		for _, erased := range []byte{0x00, 0xff} {
			r := newRig(t, ls.config(SwapMove, 8, erased, 1))
			img := mutate(append([]byte(nil), good...))
			img = append(img, make([]byte, (8-len(img)%8)%8)...)
			s := r.bl.l.images[0].secondary
			if err := r.dev.Write(s.off, img); err != nil {
				t.Fatal(err)
			}
			whole, err := r.bl.io.readSlot(s)
			if err != nil {
				t.Fatal(err)
			}
			part, err := r.bl.io.readImage(s)
			if err != nil {
				t.Fatal(err)
			}
			max := r.bl.l.images[0].maxImageSize(r.bl.l)
			v1, e1 := r.bl.validate(whole, 0, max, true)
			v2, e2 := r.bl.validate(part, 0, max, true)
			if fmt.Sprint(e1) != fmt.Sprint(e2) || (v1 == nil) != (v2 == nil) || v1 != nil && (v1.size != v2.size || v1.version() != v2.version()) {
				t.Errorf("%s, erased %#x: whole slot %v %v; image extent %v %v", name, erased, v1, e1, v2, e2)
			}
			if name == "valid" && len(part) >= len(whole) {
				t.Errorf("valid image: read %d bytes of a %d-byte slot", len(part), len(whole))
			}
		}
	}
}

// TestReadImageErasedSlot: an erased slot is read no further than its
// header, and State still calls it empty. Every FWU query of a device
// whose secondary slot was empty used to copy the whole slot (a megabyte
// for the simulator's update slots) to look at its first 32 bytes.
func TestReadImageErasedSlot(t *testing.T) {
	ls := layoutSpec{name: "readimage", bootSector: 4096, slotSector: []uint32{4096}, priSectors: []int{257}, secSectors: []int{256}, storageSector: 4096}
	for _, erased := range []byte{0x00, 0xff} {
		r := newRig(t, ls.config(SwapMove, 8, erased, 1))
		s := r.bl.l.images[0].secondary
		part, err := r.bl.io.readImage(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(part) > image.HeaderSize {
			t.Errorf("erased %#x: read %d bytes of an erased %d-byte slot, want at most the header", erased, len(part), s.size)
		}
		st, err := r.bl.State()
		if err != nil {
			t.Fatal(err)
		}
		if st[0].Secondary.Problem != "empty" || st[0].Secondary.Valid {
			t.Errorf("erased %#x: secondary slot %+v, want empty", erased, st[0].Secondary)
		}
	}
}
