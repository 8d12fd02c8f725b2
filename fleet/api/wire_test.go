package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/image"
)

var update = flag.Bool("update", false, "rewrite testdata/wire.golden from the current replies")

// wireClock is the fixed time of every row the wire test writes.
var wireClock = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixedKey is a P-256 key made from a fixed scalar, so that the PEM and
// the instance ID derived from it are the same on every run.
func fixedKey(t *testing.T, seed byte) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte{seed})
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// wireFixture is an API over a store holding one row of every kind, all
// made at wireClock from fixed keys, and a campaign engine.
func wireFixture(t *testing.T) (*API, []byte, map[string]*ecdsa.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	now := func() time.Time { return wireClock }
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "f.db"), store.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for i, st := range []store.State{store.Active, store.Registered} {
		k := fixedKey(t, byte(i))
		e := attest.Endorsement{PublicKey: &k.PublicKey, Comment: fmt.Sprintf("unit %d", i)}
		if i == 0 {
			e.ImplementationID = bytes.Repeat([]byte{0x11}, 32)
		}
		var l attest.EndorsementList
		if err := l.Add(e); err != nil {
			t.Fatal(err)
		}
		ent := l.All()[0]
		pemKey, _ := ent.PublicKeyPEM()
		id := hex.EncodeToString(ent.InstanceID[1:17])
		if _, err := db.PutEndorsement(ctx, &store.Device{ID: id, InstanceID: ent.InstanceID, ImplementationID: ent.ImplementationID, PublicKeyPEM: pemKey, Comment: ent.Comment, Manufacturer: "acme"}); err != nil {
			t.Fatal(err)
		}
		if st == store.Active {
			c := &store.Certificate{Serial: "0a0b0c", DeviceID: id, NotBefore: wireClock, NotAfter: wireClock.Add(24 * time.Hour), DER: []byte{0x30, 0x03, 0x02, 0x01, 0x01}}
			if err := db.RecordEnrollment(ctx, c, []store.State{store.Registered}, &store.AuditEntry{Actor: "device:" + id, Action: "enroll", Subject: id, Decision: store.Allow, Reason: "attested"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.InsertPoints(ctx, []store.Point{
		{DeviceID: "d1", Metric: "temperature", Time: wireClock, Value: 21.5},
		{DeviceID: "d1", Metric: "temperature", Time: wireClock.Add(time.Second), Value: -3},
	}); err != nil {
		t.Fatal(err)
	}
	seed := sha256.Sum256([]byte("release key"))
	relKey := ed25519.NewKeyFromSeed(seed[:])
	v, _ := image.ParseVersion("1.2.3")
	sc := v.SecurityCounter()
	img, err := image.Sign(bytes.Repeat([]byte{0xA5}, 512), &image.SignOptions{Key: relKey, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	e, err := campaign.New(ctx, campaign.Config{Store: db, Now: now, Publish: func(string, []byte, time.Time) error { return nil }, ImageBase: func() string { return "https://x" },
		KeySecret: make([]byte, 32), Jobs: &deviceproto.JobSigner{}}) // the engine is not started: no job is signed
	if err != nil {
		t.Fatal(err)
	}
	mfrs := map[string]*ecdsa.PrivateKey{"acme": fixedKey(t, 0xAC), "globex": fixedKey(t, 0x6E)}
	tok := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	a, err := New(Deps{Store: db, Campaigns: e, ReleaseKeys: []any{relKey.Public()}, Manufacturers: map[string]*ecdsa.PublicKey{"acme": &mfrs["acme"].PublicKey, "globex": &mfrs["globex"].PublicKey},
		Disconnect: func(string, string) bool { return true },
		Tokens:     []TokenConfig{{Name: "v", Role: Viewer, SHA256: tok("view")}, {Name: "admin", Role: Admin, SHA256: tok("admin")}}})
	if err != nil {
		t.Fatal(err)
	}
	return a, img.Bytes, mfrs
}

// TestWireGolden records every route's reply (status, the headers a client
// reads, body) over fixed data: the JSON of the admin API is its public
// contract, and this file is what it is. Run with -update only when the
// API is meant to change, and say so in docs/fleet-admin-api.md.
func TestWireGolden(t *testing.T) {
	a, img, mfrs := wireFixture(t)
	devs, _ := a.d.Store.Devices(context.Background(), "")
	active, registered := devs[0].ID, devs[1].ID
	if devs[0].State != store.Active {
		active, registered = registered, active
	}
	// acme endorses the registered device again and a new one (one
	// updated, one added); globex claims acme's device (refused).
	sign := func(mfr string, seeds ...byte) string {
		var l attest.EndorsementList
		for _, s := range seeds {
			if err := l.Add(attest.Endorsement{PublicKey: &fixedKey(t, s).PublicKey, Comment: "again"}); err != nil {
				t.Fatal(err)
			}
		}
		var lb bytes.Buffer
		l.WriteJSON(&lb)
		signed, err := attest.SignEndorsements(lb.Bytes(), mfr, mfrs[mfr], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}
	var doc map[string]any
	if err := json.Unmarshal(adminapi.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var rel struct{ digest string }
	var out strings.Builder
	for _, x := range []struct {
		method, path, token, body string
	}{
		{"GET", "/api/v1/devices", "view", ""},
		{"GET", "/api/v1/devices?state=active", "view", ""},
		{"GET", "/api/v1/devices?state=bogus", "view", ""},
		{"GET", "/api/v1/devices/" + active, "view", ""},
		{"GET", "/api/v1/devices/" + registered, "view", ""},
		{"GET", "/api/v1/devices/nope", "view", ""},
		{"GET", "/api/v1/devices", "", ""},
		{"POST", "/api/v1/devices/" + active + "/suspend", "view", `{"reason":"x"}`},
		{"POST", "/api/v1/devices/" + active + "/suspend", "admin", `{}`},
		{"POST", "/api/v1/devices/" + active + "/suspend", "admin", `{"reason":"stolen","x":1}`},
		{"POST", "/api/v1/devices/" + active + "/suspend", "admin", `{"reason":"reported stolen"}`},
		{"POST", "/api/v1/devices/" + active + "/resume", "admin", ``},
		{"POST", "/api/v1/devices/" + active + "/resume", "admin", ``},
		{"GET", "/api/v1/endorsements", "view", ""},
		{"POST", "/api/v1/endorsements", "admin", sign("acme", 1, 0x42)},
		{"POST", "/api/v1/endorsements", "admin", sign("globex", 1)},
		{"POST", "/api/v1/endorsements", "admin", "not cose"},
		{"POST", "/api/v1/devices/" + active + "/decommission", "admin", `{"reason":"end of life"}`},
		{"POST", "/api/v1/devices/" + active + "/reprovision", "admin", `{"reason":"refurbished"}`},
		{"POST", "/api/v1/releases?comment=first", "admin", string(img)},
		{"POST", "/api/v1/releases", "admin", string(img)},
		{"POST", "/api/v1/releases", "admin", "junk"},
		{"GET", "/api/v1/releases", "view", ""},
		{"POST", "/api/v1/campaigns", "admin", `{"id":"spring","release":"RELEASE","filter":{"states":["registered"],"manufacturer":"acme"},"phases":[{"name":"canary","devices":["` + registered + `"],"approve":true},{"name":"rest","devices":["` + active + `"],"success_threshold":0.5,"failure_threshold":0.2}],"max_concurrent":7,"watch_window":"20m","max_renewals":3,"window":{"start":"22:00","end":"04:00"}}`},
		{"POST", "/api/v1/campaigns", "admin", `{"id":"spring","release":"RELEASE"}`},
		{"POST", "/api/v1/campaigns", "admin", `{"id":"b a d","release":"RELEASE"}`},
		{"POST", "/api/v1/campaigns", "admin", `{"id":"late","release":"RELEASE","watch_window":"soon"}`},
		{"POST", "/api/v1/campaigns", "admin", `{"id":"late","release":"RELEASE","watch_window":true}`},
		{"GET", "/api/v1/campaigns", "view", ""},
		{"GET", "/api/v1/campaigns/spring", "view", ""},
		{"GET", "/api/v1/campaigns/spring?devices=true", "view", ""},
		{"POST", "/api/v1/campaigns/spring/pause", "admin", `{"reason":"tickets"}`},
		{"POST", "/api/v1/campaigns/spring/pause", "admin", ``},
		{"POST", "/api/v1/campaigns/spring/explode", "admin", ``},
		{"GET", "/api/v1/campaigns/nope", "view", ""},
		{"GET", "/api/v1/audit?limit=3", "view", ""},
		{"GET", "/api/v1/audit?decision=deny&action=device.suspend", "view", ""},
		{"GET", "/api/v1/audit?since=yesterday", "view", ""},
		{"GET", "/api/v1/telemetry?device=d1", "view", ""},
		{"GET", "/api/v1/telemetry?device=d1&format=csv", "view", ""},
		{"GET", "/api/v1/telemetry?device=nobody", "view", ""},
		{"GET", "/api/v1/telemetry?format=xml", "view", ""},
	} {
		body := strings.ReplaceAll(x.body, "RELEASE", rel.digest)
		r := httptest.NewRequest(x.method, x.path, strings.NewReader(body))
		if x.token != "" {
			r.Header.Set("Authorization", "Bearer "+x.token)
		}
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		fmt.Fprintf(&out, "### %s %s (%s)\n%d %s", x.method, x.path, x.token, w.Code, w.Header().Get("Content-Type"))
		for _, h := range []string{"Rampart-Image-SHA256", "WWW-Authenticate"} {
			if v := w.Header().Get(h); v != "" {
				fmt.Fprintf(&out, " %s: %s", h, v)
			}
		}
		fmt.Fprintf(&out, "\n%s\n", w.Body)
		if err := checkReplyType(doc, x.method, x.path, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes()); err != nil {
			t.Error(err)
		}
		if x.path == "/api/v1/releases?comment=first" && w.Code == http.StatusCreated {
			rel.digest = releaseDigest(t, w.Body.Bytes())
		}
	}
	golden := filepath.Join("testdata", "wire.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		t.Fatalf("the admin API's replies changed (see %s):\n%s", golden, firstDiff(string(want), got))
	}
}

// releaseDigest reads the hex measurement out of a release reply.
func releaseDigest(t *testing.T, body []byte) string {
	t.Helper()
	var r struct {
		Digest []byte `json:"digest"`
	}
	if err := json.Unmarshal(body, &r); err != nil || len(r.Digest) == 0 {
		t.Fatalf("release reply %s: %v", body, err)
	}
	return hex.EncodeToString(r.Digest)
}

// firstDiff shows the first line where want and got differ, with context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant: %s\n got: %s", i+1, a, b)
		}
	}
	return "(no line differs)"
}
