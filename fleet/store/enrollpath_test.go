package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/swcomponent"
)

// Release keeps found releases in memory: a digest not found is not
// remembered (a release registered afterwards is found at once), and a
// caller altering the release it got does not alter what later callers get.
func TestReleaseLookupSeesNewReleases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		digest := []byte("digest-0123456789abcdef0123456789")
		if _, err := db.Release(ctx, digest); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("before registration: %v, want ErrNotFound", err)
		}
		if err := db.PutRelease(ctx, &store.Release{Component: swcomponent.Component{MeasurementValue: digest, MeasurementType: "SPE", Version: "1.0.0", SignerID: []byte("signer"), MeasurementDescription: "SHA256"}, Size: 1}, nil); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // from the database, then from memory
			r, err := db.Release(ctx, digest)
			if err != nil || string(r.Component.SignerID) != "signer" || r.Component.Version != "1.0.0" {
				t.Fatalf("lookup %d: %+v, %v", i, r, err)
			}
			r.Component.SignerID[0] = 'X'
			r.Component.Version = "9.9.9"
		}
		if err := db.PutRelease(ctx, &store.Release{Component: swcomponent.Component{MeasurementValue: digest, MeasurementType: "SPE", Version: "2.0.0"}}, nil); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second registration of a digest: %v, want ErrConflict", err)
		}
		if r, _ := db.Release(ctx, digest); r.Component.Version != "1.0.0" {
			t.Fatalf("release changed to %s", r.Component.Version)
		}
	})
}

// RecordEnrollment moves a device to active only from the states given,
// says which state refused it, writes nothing when refused, and the
// lookup by instance ID sees every state change at once.
func TestRecordEnrollmentStates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.PutEndorsement(ctx, dev("r1")); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		cert := func(serial string) *store.Certificate {
			return &store.Certificate{Serial: serial, DeviceID: "r1", NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}}
		}
		// Renewal needs an active device.
		err := db.RecordEnrollment(ctx, cert("01"), []store.State{store.Active}, &store.AuditEntry{Actor: "t", Action: "renew", Subject: "r1", Decision: store.Allow})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "registered") {
			t.Fatalf("renewal of a registered device: %v", err)
		}
		if _, err := db.Certificate(ctx, "01"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused enrollment left a certificate: %v", err)
		}
		if log, _ := db.AuditLog(ctx, store.AuditFilter{Subject: "r1"}); len(log) != 0 {
			t.Fatalf("refused enrollment left %d audit entries", len(log))
		}
		if err := db.RecordEnrollment(ctx, cert("02"), []store.State{store.Registered, store.Active}, nil); err != nil {
			t.Fatal(err)
		}
		if d, err := db.DeviceByInstance(ctx, []byte("inst-r1")); err != nil || d.State != store.Active || d.Enrolled.IsZero() {
			t.Fatalf("after enrollment: %+v, %v", d, err)
		}
		if _, _, err := db.SetState(ctx, "r1", store.Decommissioned, "gone", nil); err != nil {
			t.Fatal(err)
		}
		if d, _ := db.DeviceByInstance(ctx, []byte("inst-r1")); d.State != store.Decommissioned {
			t.Fatalf("lookup after decommissioning: %s", d.State)
		}
		err = db.RecordEnrollment(ctx, cert("03"), []store.State{store.Registered, store.Active}, nil)
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "decommissioned") {
			t.Fatalf("enrollment of a decommissioned device: %v", err)
		}
		if err := db.RecordEnrollment(ctx, &store.Certificate{Serial: "04", DeviceID: "nobody"}, []store.State{store.Registered}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown device: %v", err)
		}
	})
}

// A new certificate supersedes the device's earlier ones: RecordEnrollment
// revokes them in its transaction (renewal, re-enrollment), so a device
// holds one valid certificate; other devices' certificates are untouched.
// A refused enrollment revokes nothing.
func TestRecordEnrollmentSupersedes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, id := range []string{"s1", "s2"} {
			if _, err := db.PutEndorsement(ctx, dev(id)); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		var superseded int64 // Certificate.Superseded of the last record
		record := func(serial, id string, from ...store.State) error {
			c := &store.Certificate{Serial: serial, DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}}
			err := db.RecordEnrollment(ctx, c, from, nil)
			superseded = c.Superseded
			return err
		}
		if err := record("a1", "s1", store.Registered); err != nil || superseded != 0 {
			t.Fatalf("first enrollment: %v, %d superseded (want 0)", err, superseded)
		}
		if err := record("b1", "s2", store.Registered); err != nil {
			t.Fatal(err)
		}
		if err := record("a2", "s1", store.Active); err != nil || superseded != 1 { // renewal
			t.Fatalf("renewal: %v, %d superseded (want 1)", err, superseded)
		}
		revoked := func(serial string) bool {
			c, err := db.Certificate(ctx, serial)
			if err != nil {
				t.Fatal(err)
			}
			return !c.Revoked.IsZero()
		}
		if !revoked("a1") || revoked("a2") || revoked("b1") {
			t.Fatalf("after renewal: a1 revoked %v (want true), a2 %v, b1 %v (want false)", revoked("a1"), revoked("a2"), revoked("b1"))
		}
		if err := record("a3", "s1", store.Registered); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("enrollment from a state the device is not in: %v", err)
		}
		if revoked("a2") {
			t.Fatal("a refused enrollment revoked the current certificate")
		}
	})
}

// Concurrent audit entries share group commits, and each is on record when
// its call returns.
func TestAuditGroupCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 50
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Audit(ctx, &store.AuditEntry{Actor: "t", Action: "enroll", Subject: fmt.Sprintf("a%02d", i), Decision: store.Deny, Reason: "test"})
				if errs[i] == nil {
					if log, err := db.AuditLog(ctx, store.AuditFilter{Subject: fmt.Sprintf("a%02d", i)}); err != nil || len(log) != 1 {
						errs[i] = fmt.Errorf("after return: %d entries, %v", len(log), err)
					}
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("a%02d: %v", i, err)
			}
		}
		if log, _ := db.AuditLog(ctx, store.AuditFilter{Action: "enroll"}); len(log) != n {
			t.Fatalf("%d entries, want %d", len(log), n)
		}
	})
}

// RecordEnrollmentWithNonce records the nonce's use in the enrollment's
// transaction: a second enrollment with the same nonce is refused with
// ErrNonceUsed and writes nothing, also within one group commit; on
// PostgreSQL, two handles (two nodes) racing with one nonce record it
// once. PruneUsedNonces removes the expired ones only.
func TestRecordEnrollmentWithNonce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for _, id := range []string{"n1", "n2"} {
			if _, err := db.PutEndorsement(ctx, dev(id)); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		record := func(serial, id string, nonce []byte, exp time.Time) error {
			return db.RecordEnrollmentWithNonce(ctx, nonce, exp, &store.Certificate{Serial: serial, DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}},
				[]store.State{store.Registered, store.Active}, &store.AuditEntry{Actor: "t", Action: "enroll", Subject: id, Decision: store.Allow})
		}
		if err := record("c1", "n1", []byte("nonce-1"), now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := record("c2", "n2", []byte("nonce-1"), now.Add(time.Minute)); !errors.Is(err, store.ErrNonceUsed) {
			t.Fatalf("a nonce used twice: %v", err)
		}
		if _, err := db.Certificate(ctx, "c2"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused enrollment left a certificate: %v", err)
		}
		if d, _ := db.DeviceByInstance(ctx, []byte("inst-n2")); d.State != store.Registered {
			t.Fatalf("the refused enrollment changed the device: %s", d.State)
		}
		// Many at once (one group commit), one nonce among them twice.
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				nonce := []byte(fmt.Sprintf("batch-%d", min(i, 6)))
				errs[i] = record(fmt.Sprintf("b%d", i), "n1", nonce, now.Add(time.Minute))
			}()
		}
		wg.Wait()
		used := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, store.ErrNonceUsed):
				used++
			case err != nil:
				t.Fatal(err)
			}
		}
		if used != 1 {
			t.Fatalf("%d enrollments refused for a used nonce, want 1: %v", used, errs)
		}
		if err := record("old", "n1", []byte("expired"), now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n, err := db.PruneUsedNonces(ctx, now); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v; want the expired one", n, err)
		}
		if err := record("c3", "n1", []byte("nonce-1"), now.Add(time.Minute)); !errors.Is(err, store.ErrNonceUsed) {
			t.Fatalf("an unexpired nonce pruned: %v", err)
		}
	})
}

func TestRecordEnrollmentWithNonceAcrossHandles(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	var dbs []*store.DB
	for range 2 {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	if _, err := dbs[0].PutEndorsement(ctx, dev("h1")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for round := range 20 {
		nonce := []byte(fmt.Sprintf("race-%d-%d", round, now.UnixNano()))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = dbs[i%2].RecordEnrollmentWithNonce(ctx, nonce, now.Add(time.Minute),
					&store.Certificate{Serial: fmt.Sprintf("r%d-%d-%d", round, i, now.UnixNano()), DeviceID: "h1", NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}},
					[]store.State{store.Registered, store.Active}, nil)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrNonceUsed):
				t.Fatal(err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: the nonce recorded %d times: %v", round, ok, errs)
		}
	}
}
