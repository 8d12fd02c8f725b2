package enroll

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"rampart/deviceproto"
)

// appendNonceReply writes what encoding/json's Encoder writes.
func TestNonceReplyJSON(t *testing.T) {
	for _, exp := range []time.Time{
		time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 18, 0, 0, 123456789, time.FixedZone("X", 3600)),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.Local),
	} {
		for _, n := range [][]byte{bytes.Repeat([]byte{0xfb}, deviceproto.NonceLen), {}, {1}} {
			var want bytes.Buffer
			json.NewEncoder(&want).Encode(deviceproto.NonceReply{Nonce: n, Expires: exp.UTC()})
			if got := appendNonceReply(nil, n, exp); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("got %s want %s", got, want.Bytes())
			}
		}
	}
}
