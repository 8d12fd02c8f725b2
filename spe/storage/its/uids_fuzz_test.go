package its

import (
	"bytes"
	"errors"
	"testing"

	"rampart/ipc"
)

// FuzzDecodeUIDs: any answer to StorageOpUIDs either decodes to uids that
// encode back to the same bytes, or is refused as corrupt data; nothing
// panics.
func FuzzDecodeUIDs(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		uids, err := decodeUIDs(b)
		if err != nil {
			if !errors.Is(err, ipc.ErrDataCorrupt) || len(b)%8 == 0 {
				t.Fatalf("%d bytes refused with %v", len(b), err)
			}
			return
		}
		if got := encodeUIDs(uids); !bytes.Equal(got, b) && len(b) > 0 {
			t.Fatalf("%x decoded and encoded as %x", b, got)
		}
	})
}
