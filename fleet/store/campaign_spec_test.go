package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

func TestSetCampaignSpec(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.PutCampaign(ctx, &store.CampaignRecord{ID: "c1", Spec: `{"id":"c1","secret":"x"}`, State: "running"}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.SetCampaignSpec(ctx, "c1", `{"id":"c1"}`); err != nil {
			t.Fatal(err)
		}
		if got, err := db.Campaign(ctx, "c1"); err != nil || got.Spec != `{"id":"c1"}` || got.State != "running" {
			t.Fatalf("after SetCampaignSpec: %+v %v", got, err)
		}
		if err := db.SetCampaignSpec(ctx, "nope", `{}`); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown campaign: %v", err)
		}
	})
}

// TestSetCampaignSpecLeavesNoTrace: on SQLite the replaced spec's bytes are
// gone from the database file once it is checkpointed (secure_delete), not
// left in the page's free space where a copy of the file would show them.
func TestSetCampaignSpecLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret := "SECRET-" + strings.Repeat("k", 40)
	for _, id := range []string{"c0", "c1", "c2"} { // other rows share the page
		if err := db.PutCampaign(ctx, &store.CampaignRecord{ID: id, Spec: `{"id":"` + id + `","download_key":"` + id + secret + `"}`, State: "running"}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	secret = "c1" + secret
	db.Close() // checkpoint: the row is in the main file
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(secret)) {
		t.Fatal("the test secret is not in the file to begin with")
	}
	if db, err = store.Open(ctx, path, store.Options{}); err != nil {
		t.Fatal(err)
	}
	// The new spec is longer (a sealed key is longer than the clear one),
	// so SQLite writes it elsewhere in the page and frees the old cell.
	if err := db.SetCampaignSpec(ctx, "c1", `{"id":"c1","download_key_sealed":"`+strings.Repeat("s", 80)+`"}`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{path, path + "-wal"} {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(secret)) {
			t.Fatalf("%s still holds the replaced spec's secret", filepath.Base(p))
		}
	}
}
