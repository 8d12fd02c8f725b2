package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
)

// Concurrent enrollments are committed together; each still gets its own
// answer: a refused device (wrong state), a duplicate serial and an unknown
// device fail alone, and every other certificate is on record when its call
// returns.
func TestRecordEnrollmentGroupCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 40
		for i := range n {
			if _, err := db.PutEndorsement(ctx, dev(fmt.Sprintf("g%02d", i))); err != nil {
				t.Fatal(err)
			}
		}
		// g00 is already suspended: its enrollment is a conflict.
		if _, _, err := db.SetState(ctx, "g00", store.Suspended, "lost", nil); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		errs := make([]error, n+1)
		var wg sync.WaitGroup
		for round := range 3 { // several rounds so that batches form
			wg = sync.WaitGroup{}
			for i := range n + 1 {
				if i%3 != round {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					id, serial := fmt.Sprintf("g%02d", i), fmt.Sprintf("%04x", i)
					if i == n { // unknown device
						id = "nobody"
					}
					if i == 7 { // same serial as g03's certificate, recorded in an earlier round
						serial = fmt.Sprintf("%04x", 3)
					}
					c := &store.Certificate{Serial: serial, DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{byte(i)}}
					errs[i] = db.RecordEnrollment(ctx, c, []store.State{store.Registered}, &store.AuditEntry{Actor: "device:" + id, Action: "enroll", Subject: id, Decision: store.Allow, Reason: "ok"})
				}()
			}
			wg.Wait()
		}
		for i, err := range errs {
			id := fmt.Sprintf("g%02d", i)
			switch {
			case i == 0:
				if !errors.Is(err, store.ErrConflict) {
					t.Errorf("suspended device: %v, want ErrConflict", err)
				}
			case i == n:
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("unknown device: %v, want ErrNotFound", err)
				}
			case i == 7:
				if err == nil {
					t.Errorf("duplicate serial accepted")
				}
				if d, _ := db.Device(ctx, id); d.State != store.Registered {
					t.Errorf("g07 after a failed enrollment: %s, want registered", d.State)
				}
			default:
				if err != nil {
					t.Errorf("%s: %v", id, err)
					continue
				}
				c, err := db.Certificate(ctx, fmt.Sprintf("%04x", i))
				if err != nil || c.DeviceID != id {
					t.Errorf("%s: certificate %+v, %v", id, c, err)
				}
				if d, _ := db.Device(ctx, id); d.State != store.Active {
					t.Errorf("%s: state %s, want active", id, d.State)
				}
			}
		}
	})
}
