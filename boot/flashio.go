package boot

import (
	"bytes"
	"encoding/binary"

	"rampart/flash"
	"rampart/image"
)

// copyChunk is the buffer size of a region copy: each chunk is one flash
// write, as MCUboot's boot_copy_region writes through a fixed buffer.
const copyChunk = 1024

// slotIO performs the bootloader's flash operations on one device.
type slotIO struct {
	dev *flash.Device
	l   *layout
	buf []byte
	// markRevert writes swap_info = revert in the revert fixup (with
	// downgrade prevention, docs/boot.md §5).
	markRevert bool
	// scratchErases counts the scratch sectors erased since it was reset
	// (the scratch area's wear, swap-scratch).
	scratchErases int
}

func (io *slotIO) read(s *slot, off uint32, n int) ([]byte, error) {
	b := make([]byte, n)
	return b, io.dev.Read(s.off+off, b)
}

// readSlot returns the whole slot's contents.
func (io *slotIO) readSlot(s *slot) ([]byte, error) { return io.read(s, 0, int(s.size)) }

// readImage returns the image at the start of slot s: header, body and
// TLV areas, without the rest of the slot. State validates both slots of
// every image at each FWU query, and read each whole: a 4 KiB image in a
// 1 MiB slot cost a megabyte copied, twice a query (a quarter of a
// simulated device's CPU in its update). Whatever does not parse as an
// image inside that extent is read whole, so validation sees, and
// reports, exactly what it did with the whole slot (image.Parse reads
// nothing past the image's end). An erased header is returned alone:
// State calls a slot whose first 32 bytes are erased "empty" and looks no
// further, and reading the rest made every FWU query of a device with an
// empty secondary slot (most of them, most of the time) copy a megabyte
// (TestReadImageErasedSlot).
func (io *slotIO) readImage(s *slot) ([]byte, error) {
	hdr, err := io.read(s, 0, min(image.HeaderSize, int(s.size)))
	if err != nil {
		return nil, err
	}
	if allEqual(hdr, io.l.erased) {
		return hdr, nil
	}
	h, err := image.ParseHeader(hdr)
	if err != nil {
		return io.readSlot(s)
	}
	end := uint64(h.HdrSize) + uint64(h.ImgSize) + uint64(h.ProtectTLVSize)
	if end+4 > uint64(s.size) {
		return io.readSlot(s)
	}
	info, err := io.read(s, uint32(end), 4)
	if err != nil {
		return nil, err
	}
	total := end + uint64(binary.LittleEndian.Uint16(info[2:]))
	if total > uint64(s.size) {
		return io.readSlot(s)
	}
	data, err := io.read(s, 0, int(total))
	if err != nil {
		return nil, err
	}
	if img, err := image.Parse(data); err != nil || img.Size() != len(data) {
		return io.readSlot(s)
	}
	return data, nil
}

// trailer decodes s's trailer.
func (io *slotIO) trailer(s *slot) (Trailer, error) {
	n := io.l.infoSize()
	b, err := io.read(s, s.size-uint32(n), n)
	if err != nil {
		return Trailer{}, err
	}
	return io.l.decodeTrailer(b), nil
}

// writeField writes v at slot offset off, padded with the erased value to
// the write alignment (MCUboot's boot_write_trailer).
func (io *slotIO) writeField(s *slot, off uint32, v []byte) error {
	n := alignUp(len(v), io.l.writeAlign)
	b := bytes.Repeat([]byte{io.l.erased}, n)
	copy(b, v)
	return io.dev.Write(s.off+off, b)
}

func (io *slotIO) writeFlag(s *slot, off uint32) error { return io.writeField(s, off, []byte{flagSet}) }

func (io *slotIO) writeMagic(s *slot) error {
	m := io.l.magicBytes()
	return io.dev.Write(s.off+s.size-uint32(len(m)), m)
}

func (io *slotIO) writeSwapInfo(s *slot, t SwapType, image int) error {
	return io.writeField(s, io.l.swapInfoOff(s.size), []byte{byte(t)&0x0f | byte(image)<<4})
}

func (io *slotIO) writeSwapSize(s *slot, n uint32) error {
	return io.writeField(s, io.l.swapSizeOff(s.size), []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
}

// eraseSector erases sector i of s.
func (io *slotIO) eraseSector(s *slot, i int) error {
	sec := s.sectors[i]
	return io.dev.Erase(sec.Off, sec.Size)
}

// eraseFrom erases sectors i.. of s, one operation per sector.
func (io *slotIO) eraseFrom(s *slot, i int) error {
	for ; i < len(s.sectors); i++ {
		if err := io.eraseSector(s, i); err != nil {
			return err
		}
	}
	return nil
}

// eraseTrailer erases the sectors holding s's trailer, one operation per
// sector from the last one down (MCUboot's swap_scramble_trailer_sectors).
func (io *slotIO) eraseTrailer(s *slot) error {
	for i := len(s.sectors) - 1; i >= io.l.trailerSectorIndex(s); i-- {
		if err := io.eraseSector(s, i); err != nil {
			return err
		}
	}
	return nil
}

// copyBytes copies n bytes from absolute offset src to dst (dst already
// erased). bc, when not nil, encrypts or decrypts each chunk on the way,
// dstSlotOff being the slot offset of dst (MCUboot's boot_copy_region).
func (io *slotIO) copyBytes(src, dst, n uint32, bc *bodyCipher, dstSlotOff uint32) error {
	if io.buf == nil {
		io.buf = make([]byte, copyChunk)
	}
	for done := uint32(0); done < n; {
		c := min(uint32(len(io.buf)), n-done)
		b := io.buf[:c]
		if err := io.dev.Read(src+done, b); err != nil {
			return err
		}
		bc.apply(dstSlotOff+done, b)
		if err := io.dev.Write(dst+done, b); err != nil {
			return err
		}
		done += c
	}
	return nil
}

// moveSector erases dst (a sector) and copies the sector at src into it,
// through c (see copyBytes) when not nil.
func (io *slotIO) moveSector(src, dst flash.Sector, c *bodyCipher, dstSlotOff uint32) error {
	if err := io.dev.Erase(dst.Off, dst.Size); err != nil {
		return err
	}
	return io.copyBytes(src.Off, dst.Off, dst.Size, c, dstSlotOff)
}
