package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/fleet/store"
	"rampart/fleet/trust"
	"rampart/image"
)

// A retiring release key stays trusted for releases while an active
// device's last attestation does not report its fuse revoked (a device
// with no fuse claim counts as holding it), and the status names those
// devices; once every active device reports it revoked, it is retired
// and its releases are refused. On the old code a key outside
// release_keys signed nothing the server registered, whatever the
// devices still needed.
func TestRetiringReleaseKeyKeptUntilRevoked(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	newKey := func(s string) ed25519.PrivateKey { h := sha256.Sum256([]byte(s)); return ed25519.NewKeyFromSeed(h[:]) }
	current, old := newKey("current"), newKey("old")
	tok := sha256.Sum256([]byte("admin"))
	a, err := New(Deps{Store: db, ReleaseKeys: []any{current.Public()},
		RetiringReleaseKeys: []trust.RetiringKey{{Key: old.Public(), Name: "old.pem", Fuse: 0}},
		Tokens:              []TokenConfig{{Name: "admin", Role: Admin, SHA256: hex.EncodeToString(tok[:])}}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string, body []byte) (int, string) {
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer admin")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	status := func() adminapi.RetiringKey {
		t.Helper()
		code, body := do("GET", "/api/v1/release-keys/retiring", nil)
		var out []adminapi.RetiringKey
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil || len(out) != 1 {
			t.Fatalf("status: %d %s", code, body)
		}
		return out[0]
	}
	release := func(version string) (int, string) {
		v, _ := image.ParseVersion(version)
		sc := v.SecurityCounter()
		img, err := image.Sign(bytes.Repeat([]byte{0xA5}, 512), &image.SignOptions{Key: old, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
		if err != nil {
			t.Fatal(err)
		}
		return do("POST", "/api/v1/releases", img.Bytes)
	}
	at := time.Now()
	enroll := func(id, claims string, from store.State) {
		t.Helper()
		at = at.Add(time.Minute)
		c := &store.Certificate{Serial: fmt.Sprintf("%x", at.UnixNano()), DeviceID: id, NotBefore: at, NotAfter: at.Add(24 * time.Hour), DER: []byte{0x30, 0x03, 0x02, 0x01, 0x01}, Claims: claims}
		if err := db.RecordEnrollment(ctx, c, []store.State{from}, &store.AuditEntry{Actor: "device:" + id, Action: "enroll", Subject: id, Decision: store.Allow}); err != nil {
			t.Fatal(err)
		}
	}
	fuses := func(revoked int) string {
		return fmt.Sprintf(`{"instance_id":"01","release_keys":{"pending":0,"activated":2,"retiring":%d,"revoked":%d,"statuses":""}}`, 1-revoked, revoked)
	}
	for _, d := range []struct{ id, claims string }{{"dev-a", fuses(0)}, {"dev-b", fuses(1)}, {"dev-c", ""}} {
		if _, err := db.PutEndorsement(ctx, &store.Device{ID: d.id, InstanceID: []byte(d.id)}); err != nil {
			t.Fatal(err)
		}
		enroll(d.id, d.claims, store.Registered)
	}
	s := status()
	if s.State != "retiring" || s.Active != 3 || strings.Join(s.Holders, " ") != "dev-a dev-c" {
		t.Fatalf("status %+v, want retiring, held by dev-a (fuse not revoked) and dev-c (no claim) of 3", s)
	}
	if code, body := release("1.0.1"); code != 201 {
		t.Fatalf("release signed by the retiring key while devices hold it: %d %s, want 201", code, body)
	}
	enroll("dev-a", fuses(1), store.Active)
	if s := status(); s.State != "retiring" || strings.Join(s.Holders, " ") != "dev-c" {
		t.Fatalf("status %+v, want retiring, held by dev-c", s)
	}
	enroll("dev-c", fuses(1), store.Active)
	if s := status(); s.State != "retired" || len(s.Holders) != 0 {
		t.Fatalf("status %+v, want retired, no holder", s)
	}
	if code, body := release("1.0.2"); code != 422 || !strings.Contains(body, "retired release key") {
		t.Fatalf("release signed by the key every device revoked: %d %s, want 422 retired", code, body)
	}
}
