package enroll_test

import (
	"bytes"
	"context"
	"testing"

	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/swcomponent"
)

// The enrollment decision follows the store at once: a release registered
// after a refusal is accepted on the next attempt (found releases are kept
// in memory, misses are not), a device decommissioned after enrolling is
// refused (device rows are read on every enrollment), and every refusal is
// audited.
func TestEnrollFollowsStoreChanges(t *testing.T) {
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			e := newBenchEnv(t, backend)
			ctx := context.Background()
			newRel := &store.Release{Component: swcomponent.Component{MeasurementValue: bytes.Repeat([]byte{0xB6}, 32), MeasurementType: "SPE", Version: "1.3.0", SignerID: e.release.Component.SignerID, MeasurementDescription: "SHA256"}, Size: 1}
			enrollOnce := func(rel *store.Release) (string, *deviceproto.Refusal) {
				r := e.requestsFor(t, 1, rel)[0]
				id, _, ref := e.svc.Enroll(ctx, r.raw, false, "test")
				return id, ref
			}
			id, ref := enrollOnce(e.release) // puts the registered release in memory
			if ref != nil {
				t.Fatalf("registered release: %v", ref)
			}
			if _, ref := enrollOnce(newRel); ref == nil || ref.Code != deviceproto.CodeUnknownFirmware {
				t.Fatalf("unregistered release: %v, want %s", ref, deviceproto.CodeUnknownFirmware)
			}
			if err := e.db.PutRelease(ctx, newRel, nil); err != nil {
				t.Fatal(err)
			}
			if _, ref := enrollOnce(newRel); ref != nil {
				t.Fatalf("release registered after a refusal: %v", ref)
			}
			if _, _, err := e.db.SetState(ctx, id, store.Decommissioned, "revoked", nil); err != nil {
				t.Fatal(err)
			}
			if _, ref := enrollOnce(e.release); ref == nil || ref.Code != deviceproto.CodeDeviceState {
				t.Fatalf("decommissioned device: %v, want %s", ref, deviceproto.CodeDeviceState)
			}
			log, err := e.db.AuditLog(ctx, store.AuditFilter{Subject: id, Decision: store.Deny})
			if err != nil || len(log) != 2 {
				t.Fatalf("refusals audited: %d, %v; want 2", len(log), err)
			}
		})
	}
}
