package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// TestDevicesPage pages through filtered devices on both databases: keyset
// order, totals, the ID prefix range, and the counts of the overview.
func TestDevicesPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 30 {
			d := &store.Device{ID: fmt.Sprintf("dev-%02d", i), InstanceID: []byte{byte(i)}, PublicKeyPEM: "k", Manufacturer: []string{"acme", "globex"}[i%2]}
			if _, err := db.PutEndorsement(ctx, d); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 {
				if _, _, err := db.SetState(ctx, d.ID, store.Suspended, "test", nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		var ids []string
		after := ""
		for {
			p, err := db.DevicesPage(ctx, store.DeviceFilter{After: after, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			if p.Total != 30 {
				t.Fatalf("total %d, want 30", p.Total)
			}
			for _, d := range p.Devices {
				ids = append(ids, d.ID)
			}
			if len(p.Devices) < 7 {
				break
			}
			after = p.Devices[len(p.Devices)-1].ID
		}
		if len(ids) != 30 || ids[0] != "dev-00" || ids[29] != "dev-29" {
			t.Fatalf("paged %d devices: %v", len(ids), ids)
		}
		p, err := db.DevicesPage(ctx, store.DeviceFilter{State: store.Suspended, Manufacturer: "globex"})
		if err != nil {
			t.Fatal(err)
		}
		// Suspended: 0, 3, ..., 27; globex: odd: 3, 9, 15, 21, 27.
		if p.Total != 5 || len(p.Devices) != 5 || p.Devices[0].ID != "dev-03" {
			t.Fatalf("suspended globex: total %d, %d rows", p.Total, len(p.Devices))
		}
		p, err = db.DevicesPage(ctx, store.DeviceFilter{IDPrefix: "dev-1"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 10 || p.Devices[0].ID != "dev-10" || p.Devices[9].ID != "dev-19" {
			t.Fatalf("prefix dev-1: total %d", p.Total)
		}
		p, err = db.DevicesPage(ctx, store.DeviceFilter{SeenSince: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 0 {
			t.Fatalf("%d devices seen in the last hour; none has attested", p.Total)
		}
		c, err := db.CountDevices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.ByState[store.Suspended] != 10 || c.ByState[store.Registered] != 20 || c.ByManufacturer["acme"] != 15 || c.ByManufacturer["globex"] != 15 {
			t.Fatalf("counts %+v", c)
		}
	})
}
