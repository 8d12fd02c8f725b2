package image

import (
	"bytes"
	"testing"

	"rampart/image/ihex"
)

// TestSignHexLaysOutTheSlot: read back and filled with the erased value,
// the Intel HEX output is exactly Sign's binary output, padded slot and
// trailer included, at the given address.
func TestSignHexLaysOutTheSlot(t *testing.T) {
	_, key := smallSigned(t)
	in := bytes.Repeat([]byte{0xff, 0x00, 0x5a}, 700)
	zero := byte(0)
	for name, mod := range map[string]func(o *SignOptions){
		"unpadded":          func(o *SignOptions) {},
		"pad":               func(o *SignOptions) { o.Pad = true },
		"test":              func(o *SignOptions) { o.Test = true; o.MaxAlign = 32 },
		"confirm":           func(o *SignOptions) { o.Confirm = true },
		"confirm erased 0":  func(o *SignOptions) { o.Confirm = true; o.ErasedVal = &zero },
		"confirm overwrite": func(o *SignOptions) { o.Confirm = true; o.Overwrite = true },
	} {
		o := &SignOptions{Key: key, HeaderSize: 0x200, PadHeader: true, SlotSize: 0x2000, Version: Version{1, 2, 3, 4}}
		mod(o)
		const base = 0x08020000
		res, hex, err := SignHex(in, o, base)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, err := Sign(in, o)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ihex.Parse(hex)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		at, got := m.ToBinary(o.erased())
		if at != base || !bytes.Equal(got, want.Bytes) || !bytes.Equal(res.Digest, want.Digest) {
			t.Errorf("%s: at 0x%x, %d bytes; want 0x%x, %d bytes as Sign's", name, at, len(got), base, len(want.Bytes))
		}
	}
}
