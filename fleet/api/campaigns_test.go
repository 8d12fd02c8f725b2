package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// TestCampaignRoutes: reading needs a viewer, creating and controlling an
// operator; without an engine the routes answer 503; bad input is 400/404.
func TestCampaignRoutes(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tok := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	e, err := campaign.New(context.Background(), campaign.Config{Store: db, Publish: func(string, []byte, time.Time) error { return nil }, ImageBase: func() string { return "https://x" }, KeySecret: make([]byte, 32),
		Jobs: &deviceproto.JobSigner{}}) // no campaign here gets as far as a job
	if err != nil {
		t.Fatal(err)
	}
	tokens := []TokenConfig{{Name: "v", Role: Viewer, SHA256: tok("view")}, {Name: "o", Role: Operator, SHA256: tok("op")}}
	with, err := New(Deps{Store: db, Campaigns: e, Tokens: tokens})
	if err != nil {
		t.Fatal(err)
	}
	without, _ := New(Deps{Store: db, Tokens: tokens})
	for _, tc := range []struct {
		a            *API
		token        string
		method, path string
		body         string
		want         int
	}{
		{with, "view", "GET", "/api/v1/campaigns", "", 200},
		{with, "view", "POST", "/api/v1/campaigns", `{"id":"a","release":"00"}`, 403},
		{with, "op", "POST", "/api/v1/campaigns", `{"id":"a b","release":"00"}`, 400},
		{with, "op", "POST", "/api/v1/campaigns", `{"id":"a","unknown":1}`, 400},
		{with, "op", "POST", "/api/v1/campaigns", `{"id":"a","release":"` + strings.Repeat("00", 32) + `"}`, 404},
		{with, "view", "GET", "/api/v1/campaigns/nope", "", 404},
		{with, "op", "POST", "/api/v1/campaigns/nope/pause", "", 404},
		{with, "op", "POST", "/api/v1/campaigns/nope/explode", "", 404},
		{without, "view", "GET", "/api/v1/campaigns", "", 503},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		r.Header.Set("Authorization", "Bearer "+tc.token)
		w := httptest.NewRecorder()
		tc.a.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s as %s: %d %s, want %d", tc.method, tc.path, tc.token, w.Code, w.Body, tc.want)
		}
	}
}
