package ps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"rampart/ipc"
)

// TestOpenVersion1File: a file written before psa_ps_create existed ("RPS1",
// no capacity field) still opens, with its length as its capacity; an RPS2
// file whose capacity is under its length is refused.
func TestOpenVersion1File(t *testing.T) {
	huk := bytes.Repeat([]byte{7}, 32)
	aead, err := objectKey(HUKKeys(huk), -1, 9)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{1}, nonceSize)
	h := append([]byte(nil), fileMagicV1...)
	h = binary.LittleEndian.AppendUint32(h, 0)
	h = binary.LittleEndian.AppendUint64(h, 3)
	h = binary.LittleEndian.AppendUint32(h, uint32(0xffffffff)) // client -1
	h = binary.LittleEndian.AppendUint64(h, 9)
	h = binary.LittleEndian.AppendUint32(h, 3)
	h = append(h, nonce...)
	file := aead.Seal(append([]byte(nil), h...), nonce, []byte("old"), h)
	o, err := open(HUKKeys(huk), -1, 9, file)
	if err != nil || string(o.Data) != "old" || o.Capacity != 3 || o.Version != 3 {
		t.Fatalf("version 1 file: %+v %v", o, err)
	}

	b, err := seal(HUKKeys(huk), &sealed{Version: 4, Client: -1, UID: 9, Data: []byte("abcd"), Capacity: 10}, bytes.NewReader(nonce))
	if err != nil {
		t.Fatal(err)
	}
	if o, err := open(HUKKeys(huk), -1, 9, b); err != nil || o.Capacity != 10 || string(o.Data) != "abcd" {
		t.Fatalf("version 2 file: %+v %v", o, err)
	}
	binary.LittleEndian.PutUint32(b[32:], 2) // capacity under the length (the tag fails too)
	if _, err := open(HUKKeys(huk), -1, 9, b); !errors.Is(err, ipc.ErrInvalidSignature) {
		t.Fatalf("capacity under length: %v", err)
	}
}
