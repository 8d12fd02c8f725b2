package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

func TestCampaignTables(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		c := &store.CampaignRecord{ID: "c1", Spec: `{"id":"c1"}`, State: "running"}
		devs := []store.CampaignDevice{{DeviceID: "a", Phase: 0, Status: "queued"}, {DeviceID: "b", Phase: 1, Status: "queued"}}
		if err := db.PutCampaign(ctx, c, devs, &store.AuditEntry{Actor: "t", Action: "campaign.create", Subject: "c1", Decision: store.Allow}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutCampaign(ctx, c, nil, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("same id again: %v", err)
		}
		n := time.UnixMilli(1_800_000_000_000).UTC()
		if err := db.SetCampaignDevices(ctx, "c1", []store.CampaignDevice{{DeviceID: "a", Status: "failed", Reason: "r", Notified: n}}); err != nil {
			t.Fatal(err)
		}
		c.State, c.Phase, c.Reason, c.AckedFailures = "paused", 1, "threshold", 3
		if err := db.SetCampaignState(ctx, c, store.Fence{}, nil); err != nil || c.Version != 1 {
			t.Fatal(c.Version, err)
		}
		// A write decided on the older version is refused, and changes nothing.
		stale := *c
		stale.Version, stale.State = 0, "running"
		if err := db.SetCampaignState(ctx, &stale, store.Fence{}, nil); !errors.Is(err, store.ErrConflict) || stale.Version != 0 {
			t.Fatalf("stale write: %v", err)
		}
		if err := db.SetCampaignState(ctx, &store.CampaignRecord{ID: "nope"}, store.Fence{}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown campaign: %v", err)
		}
		got, err := db.Campaign(ctx, "c1")
		if err != nil || got.State != "paused" || got.Phase != 1 || got.Reason != "threshold" || got.AckedFailures != 3 || got.Spec != c.Spec || got.Version != 1 {
			t.Fatalf("campaign: %+v %v", got, err)
		}
		if _, err := db.Campaign(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown: %v", err)
		}
		list, err := db.Campaigns(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		rows, err := db.CampaignDevices(ctx, "c1")
		if err != nil || len(rows) != 2 || rows[0].DeviceID != "a" || rows[0].Status != "failed" || rows[0].Reason != "r" || !rows[0].Notified.Equal(n) || rows[1].Phase != 1 {
			t.Fatalf("devices: %+v %v", rows, err)
		}

		// Conditional transitions: only from the status (and notification)
		// the writer read.
		ch := []store.DeviceChange{
			{CampaignDevice: store.CampaignDevice{DeviceID: "b", Status: "notified", Notified: n}, From: []string{"queued"}},
			{CampaignDevice: store.CampaignDevice{DeviceID: "a", Status: "verified"}, From: []string{"notified", "downloading"}, FromNotified: n},
			{CampaignDevice: store.CampaignDevice{DeviceID: "a", Status: "reverted"}, From: []string{"failed"}}, // not at that notification
		}
		applied, err := db.ChangeCampaignDevices(ctx, "c1", ch, store.Fence{})
		if err != nil || !applied[0] || applied[1] || applied[2] {
			t.Fatalf("changes: %v %v", applied, err)
		}
		rev := []store.DeviceChange{{CampaignDevice: store.CampaignDevice{DeviceID: "a", Status: "reverted", Notified: n}, From: []string{"notified", "failed"}, FromNotified: n}}
		if applied, err = db.ChangeCampaignDevices(ctx, "c1", rev, store.Fence{}); err != nil || !applied[0] {
			t.Fatalf("failed to reverted: %v %v", applied, err)
		}
		if applied, err = db.ChangeCampaignDevices(ctx, "c1", ch[:1], store.Fence{}); err != nil || applied[0] {
			t.Fatalf("the same change again: %v %v", applied, err)
		}
		if since, err := db.CampaignDevicesSince(ctx, "c1", time.Now().Add(-time.Minute)); err != nil || len(since) != 2 {
			t.Fatalf("since a minute ago: %+v %v", since, err)
		}
		if since, err := db.CampaignDevicesSince(ctx, "c1", time.Now().Add(time.Hour)); err != nil || len(since) != 0 {
			t.Fatalf("since later: %+v %v", since, err)
		}
		if d, err := db.CampaignDevice(ctx, "c1", "b"); err != nil || d.Status != "notified" || !d.Notified.Equal(n) {
			t.Fatalf("device b: %+v %v", d, err)
		}
		if _, err := db.CampaignDevice(ctx, "c1", "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown device: %v", err)
		}
		if _, err := db.ChangeCampaignDevices(ctx, "c1", ch[:1], store.Fence{Name: "campaigns", Epoch: 1}); !errors.Is(err, store.ErrFenced) {
			t.Fatalf("fenced without the lease: %v", err)
		}

		if err := db.PutImage(ctx, "aa", []byte{1}, "SPE", 5, []byte("img5")); err != nil {
			t.Fatal(err)
		}
		if err := db.PutImage(ctx, "aa", []byte{1}, "SPE", 5, []byte("img5")); err != nil {
			t.Fatalf("same image again: %v", err)
		}
		if err := db.PutImage(ctx, "bb", []byte{2}, "SPE", 7, []byte("img7")); err != nil {
			t.Fatal(err)
		}
		if d, data, err := db.Image(ctx, "bb"); err != nil || string(d) != "\x02" || string(data) != "img7" {
			t.Fatalf("image: %x %q %v", d, data, err)
		}
		if _, _, err := db.Image(ctx, "cc"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown image: %v", err)
		}
		if h, err := db.ImageByDigest(ctx, []byte{1}); err != nil || h != "aa" {
			t.Fatalf("by digest: %q %v", h, err)
		}
		if v, ok, err := db.MaxSecurityCounter(ctx, "SPE"); err != nil || !ok || v != 7 {
			t.Fatalf("max counter: %d %v %v", v, ok, err)
		}
		if _, ok, err := db.MaxSecurityCounter(ctx, "NSPE"); err != nil || ok {
			t.Fatalf("no images of a type: %v %v", ok, err)
		}

		now := time.Now()
		if err := db.InsertPoints(ctx, []store.Point{
			{DeviceID: "a", Metric: "fw_version", Time: now.Add(-time.Minute), Value: 10000},
			{DeviceID: "a", Metric: "fw_version", Time: now, Value: 20000},
			{DeviceID: "b", Metric: "fw_version", Time: now, Value: 10000},
			{DeviceID: "b", Metric: "temp", Time: now.Add(time.Second), Value: 3},
		}); err != nil {
			t.Fatal(err)
		}
		m, err := db.LatestTelemetry(ctx, "fw_version")
		if err != nil || len(m) != 2 || m["a"] != 20000 || m["b"] != 10000 {
			t.Fatalf("latest: %v %v", m, err)
		}
	})
}
