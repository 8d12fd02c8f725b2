package fleet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"rampart/fleet/store"
	"rampart/image"
)

// TestReleaseUploadConflict: POST /api/v1/releases answers 201 when it
// stores something (a new release, or the image of a release registered
// without one), and 409 Conflict, audited, when the release and its image
// are already on record, as the API documentation says; before, a repeated
// upload answered 201. Another signature over the same measurement (ECDSA
// signatures differ each time) is the same release: 409 too.
func TestReleaseUploadConflict(t *testing.T) {
	f := newFixture(t, "sqlite") // registers f.release without its image
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 201 {
		t.Fatalf("image of a release registered without it: %d %s, want 201", st, body)
	}
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(f.release)); st != 409 {
		t.Fatalf("the same upload again: %d %s, want 409", st, body)
	}
	v, _ := image.ParseVersion("1.2.3")
	again, err := image.Sign(bytes.Repeat([]byte{0xA5}, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again.Bytes, f.release) || !bytes.Equal(again.Digest, f.relInfo.digest) {
		t.Fatal("the second signing should differ in bytes, not in measurement")
	}
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(again.Bytes)); st != 409 {
		t.Fatalf("another signature of the same release: %d %s, want 409", st, body)
	}
	if e := f.lastAudit("releases.upload", fmt.Sprintf("%x", f.relInfo.digest)); e == nil || e.Decision != store.Deny {
		t.Fatalf("refused upload not audited: %+v", e)
	}
	v2, _ := image.ParseVersion("1.2.4")
	next, err := image.Sign(make([]byte, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v2, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := f.api("POST", "/api/v1/releases", adminToken, string(next.Bytes)); st != 201 {
		t.Fatalf("a new release: %d %s, want 201", st, body)
	}
}
