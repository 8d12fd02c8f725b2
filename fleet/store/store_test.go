package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/swcomponent"
)

func dev(id string) *store.Device {
	return &store.Device{ID: id, InstanceID: []byte("inst-" + id), PublicKeyPEM: "pem-" + id, Comment: "c"}
}

func TestDeviceLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		created, err := db.PutEndorsement(ctx, dev("a"))
		if err != nil || !created {
			t.Fatalf("PutEndorsement = %v, %v", created, err)
		}
		if created, err := db.PutEndorsement(ctx, dev("a")); err != nil || created {
			t.Fatalf("second PutEndorsement = %v, %v; want existing", created, err)
		}
		d, err := db.DeviceByInstance(ctx, []byte("inst-a"))
		if err != nil || d.ID != "a" || d.State != store.Registered {
			t.Fatalf("DeviceByInstance = %+v, %v", d, err)
		}
		if _, err := db.Device(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown device: %v", err)
		}
		// Resume from registered is not a transition.
		if _, _, err := db.SetState(ctx, "a", store.Active, "", nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("registered->active by SetState: %v", err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		c := &store.Certificate{Serial: "01", DeviceID: "a", NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1, 2}}
		if err := db.RecordEnrollment(ctx, c, []store.State{store.Registered}, &store.AuditEntry{Actor: "device:a", Action: "enroll", Subject: "a", Decision: store.Allow, Reason: "ok"}); err != nil {
			t.Fatal(err)
		}
		d, _ = db.Device(ctx, "a")
		if d.State != store.Active || d.Enrolled.IsZero() {
			t.Fatalf("after enrollment: %+v", d)
		}
		got, err := db.Certificate(ctx, "01")
		if err != nil || !got.NotAfter.Equal(c.NotAfter) || string(got.DER) != "\x01\x02" {
			t.Fatalf("Certificate = %+v, %v", got, err)
		}
		// Enrollment only from the allowed states.
		c2 := &store.Certificate{Serial: "02", DeviceID: "a", NotBefore: now, NotAfter: now, DER: []byte{3}}
		if err := db.RecordEnrollment(ctx, c2, []store.State{store.Registered}, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("enrollment of an active device as new: %v", err)
		}
		if _, err := db.Certificate(ctx, "02"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused enrollment left a certificate: %v", err)
		}
		if _, _, err := db.SetState(ctx, "a", store.Suspended, "lost", nil); err != nil {
			t.Fatal(err)
		}
		d, _ = db.Device(ctx, "a")
		if d.State != store.Suspended || d.Reason != "lost" {
			t.Fatalf("suspended: %+v", d)
		}
		if _, _, err := db.SetState(ctx, "a", store.Active, "", nil); err != nil {
			t.Fatal(err)
		}
		_, revoked, err := db.SetState(ctx, "a", store.Decommissioned, "end of life", nil)
		if err != nil || len(revoked) != 1 || revoked[0] != "01" {
			t.Fatalf("decommission revoked %v, %v", revoked, err)
		}
		got, _ = db.Certificate(ctx, "01")
		if got.Revoked.IsZero() {
			t.Fatal("certificate not revoked by decommissioning")
		}
		// A new endorsement import does not revive it.
		db.PutEndorsement(ctx, dev("a"))
		if d, _ = db.Device(ctx, "a"); d.State != store.Decommissioned {
			t.Fatalf("re-import revived the device: %s", d.State)
		}
		if _, _, err := db.SetState(ctx, "a", store.Registered, "re-provisioned", nil); err != nil {
			t.Fatal(err)
		}
		list, err := db.Devices(ctx, store.Registered)
		if err != nil || len(list) != 1 {
			t.Fatalf("Devices(registered) = %d, %v", len(list), err)
		}
	})
}

func TestReleasesAuditTelemetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := &store.Release{Component: swcomponent.Component{MeasurementValue: []byte{9, 9}, MeasurementType: "SPE", Version: "1.2.3", SignerID: []byte{7}, MeasurementDescription: "SHA256"}, Size: 10}
		if err := db.PutRelease(ctx, r, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.PutRelease(ctx, r, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate release: %v", err)
		}
		got, err := db.Release(ctx, []byte{9, 9})
		if err != nil || got.Component.Version != "1.2.3" || got.Component.MeasurementType != "SPE" {
			t.Fatalf("Release = %+v, %v", got, err)
		}
		for i := range 3 {
			db.Audit(ctx, &store.AuditEntry{Actor: "x", Action: "enroll", Subject: "s", Decision: store.Deny, Reason: "r" + string(rune('0'+i))})
		}
		log, err := db.AuditLog(ctx, store.AuditFilter{Subject: "s", Limit: 2})
		if err != nil || len(log) != 2 || log[0].Reason != "r2" {
			t.Fatalf("AuditLog = %v, %v", log, err)
		}
		base := time.UnixMilli(1_700_000_000_000).UTC()
		var pts []store.Point
		for i := range 450 { // crosses the multi-row insert chunk size
			pts = append(pts, store.Point{DeviceID: "d", Metric: []string{"t", "h"}[i%2], Time: base.Add(time.Duration(i) * time.Second), Value: float64(i)})
		}
		if err := db.InsertPoints(ctx, pts); err != nil {
			t.Fatal(err)
		}
		q, err := db.Points(ctx, store.PointQuery{DeviceID: "d", Metric: "t", From: base.Add(10 * time.Second), To: base.Add(20 * time.Second)})
		if err != nil || len(q) != 5 || q[0].Value != 10 || !q[0].Time.Equal(base.Add(10*time.Second)) {
			t.Fatalf("Points = %v, %v", q, err)
		}
		n, err := db.DeletePointsBefore(ctx, base.Add(100*time.Second))
		if err != nil || n != 100 {
			t.Fatalf("DeletePointsBefore = %d, %v", n, err)
		}
		if c, _ := db.CountPoints(ctx); c != 350 {
			t.Fatalf("CountPoints = %d", c)
		}
	})
}
