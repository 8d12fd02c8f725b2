package enroll

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// appendNonceReply writes what encoding/json's Encoder writes.
func TestNonceReplyJSON(t *testing.T) {
	for _, exp := range []time.Time{
		time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.FixedZone("X", 3600)),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.Local),
	} {
		for _, n := range [][]byte{bytes.Repeat([]byte{0xfb}, NonceLen), {}, {1}} {
			var want bytes.Buffer
			json.NewEncoder(&want).Encode(NonceReply{Nonce: n, Expires: exp.UTC()})
			if got := appendNonceReply(nil, n, exp); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("got %s want %s", got, want.Bytes())
			}
		}
	}
}

// decodeB64 takes line-wrapped and unwrapped input alike.
func TestDecodeB64Whitespace(t *testing.T) {
	for _, in := range []string{"AQIDBA==", "AQID\r\nBA==", " AQ ID\tBA==\n"} {
		b, err := decodeB64(in, 8)
		if err != nil || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
			t.Errorf("%q: %x, %v", in, b, err)
		}
	}
	if _, err := decodeB64("AQIDBA==", 3); err == nil {
		t.Error("4 bytes accepted with a maximum of 3")
	}
}
