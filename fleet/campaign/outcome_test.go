package campaign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/swcomponent"
)

// attester is a bench device with a real attestation key: it can make the
// tokens a device's SPE makes, over any nonce it likes.
type attester struct {
	id  string
	iak *ecdsa.PrivateKey
}

func (b *bench) attester(t *testing.T, id string) *attester {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	inst, _ := attest.InstanceID(&k.PublicKey)
	pemKey, err := attest.MarshalPublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.PutEndorsement(context.Background(), &store.Device{ID: id, InstanceID: inst, PublicKeyPEM: string(pemKey)}); err != nil {
		t.Fatal(err)
	}
	return &attester{id: id, iak: k}
}

// token attests the release (measurement digest) over nonce.
func (a *attester) token(t *testing.T, nonce, digest []byte) []byte {
	t.Helper()
	tok, err := attest.Sign(&attest.Claims{Nonce: nonce, ImplementationID: make([]byte, 32), ClientID: -1, Lifecycle: attest.LifecycleSecured,
		SoftwareComponents: []swcomponent.Component{{MeasurementType: "SPE", MeasurementValue: digest, Version: "2.0.0", SignerID: make([]byte, 32), MeasurementDescription: "SHA256"}}},
		a.iak, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reenroll records an accepted re-enrollment by attestation now, as the
// enrollment service does in the device's trial boot.
func (b *bench) reenroll(t *testing.T, id string) {
	t.Helper()
	now := b.clock()
	err := b.db.RecordEnrollment(context.Background(), &store.Certificate{Serial: fmt.Sprintf("%x-%s", now.UnixNano(), id), DeviceID: id, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{1}},
		[]store.State{store.Registered, store.Active}, &store.AuditEntry{Actor: "test", Action: "renew", Subject: id, Decision: store.Allow})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOutcomeTokenMustAnswerTheJobsChallenge: the nonce of an outcome's
// token is the server's challenge from the device's job. A device that
// holds a genuine token of the release (signed by its endorsed key, the
// release's measurement, re-enrolled after notification) but made for an
// earlier campaign's job, or over a nonce of its own choosing, cannot have
// an update verified with it; the token over its job's challenge can.
// Before the server issued the challenge, both were verified.
func TestOutcomeTokenMustAnswerTheJobsChallenge(t *testing.T) {
	b := newBench(t, 0)
	ctx := context.Background()
	devA, devB := b.attester(t, "dev-a"), b.attester(t, "dev-b")
	digest, _ := hex.DecodeString(b.release)
	e := b.engine(t)
	states := []store.State{store.Registered, store.Active}
	run := func(id string, devs ...string) {
		t.Helper()
		if _, err := e.Create(ctx, campaign.Spec{ID: id, Release: b.release, Filter: campaign.Filter{States: states, Devices: devs},
			Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}}, "test"); err != nil {
			t.Fatal(err)
		}
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		b.advance(time.Second)
		for _, d := range devs {
			b.reenroll(t, d)
		}
	}
	outcome := func(campaignID string, d *attester, tok []byte) {
		report(t, e, d.id, deviceproto.Outcome{JobID: campaignID, OK: true, Result: deviceproto.ResultOK, Version: "2.0.0", Token: tok})
	}

	// The first campaign: dev-a answers its job's challenge and is verified.
	run("first", devA.id)
	job1 := b.job(t, devA.id)
	old := devA.token(t, job1.Nonce, digest)
	outcome("first", devA, old)
	if st := statuses(t, e, "first")[devA.id]; st.Status != campaign.Verified {
		t.Fatalf("the token over the job's challenge: %s (%s), want verified", st.Status, st.Reason)
	}
	b.forget(devA.id)

	// The second campaign: dev-a reports with the first campaign's token,
	// dev-b with a token over a nonce it chose.
	run("second", devA.id, devB.id)
	if job2 := b.job(t, devA.id); string(job2.Nonce) == string(job1.Nonce) {
		t.Fatal("two campaigns sent the same challenge")
	}
	own := make([]byte, 32)
	rand.Read(own)
	outcome("second", devA, old)
	outcome("second", devB, devB.token(t, own, digest))
	got := statuses(t, e, "second")
	for _, d := range []*attester{devA, devB} {
		if st := got[d.id]; st.Status != campaign.Failed || !strings.Contains(st.Reason, "challenge") {
			t.Errorf("%s: %s (%s), want failed: the token is not over its job's challenge", d.id, st.Status, st.Reason)
		}
	}
	// One outcome per device and campaign: a right token after the
	// refused one changes nothing.
	outcome("second", devB, devB.token(t, b.job(t, devB.id).Nonce, digest))
	if st := statuses(t, e, "second")[devB.id]; st.Status != campaign.Failed {
		t.Fatalf("a second outcome moved dev-b to %s", st.Status)
	}
}

// TestOutcomeResultDecides: the result field decides failed or reverted,
// never the error text; an older agent's message (ok only) reads as failed
// whatever its text says.
func TestOutcomeResultDecides(t *testing.T) {
	b := newBench(t, 4)
	ctx := context.Background()
	e := b.engine(t)
	if _, err := e.Create(ctx, campaign.Spec{ID: "r", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 4}, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	reports := map[string]struct {
		payload string
		want    campaign.Status
	}{
		"dev-000": {`{"job":"r","ok":false,"result":"reverted","version":"1.0.0","error":"agent: self-test of 2.0.0 failed"}`, campaign.Reverted},
		"dev-001": {`{"job":"r","ok":false,"result":"failed","version":"1.0.0","error":"the image was reverted by nobody"}`, campaign.Failed},
		"dev-002": {`{"job":"r","ok":false,"version":"1.0.0","error":"agent: self-test of 2.0.0 failed, reverted: x"}`, campaign.Failed},
		"dev-003": {`{"job":"r","ok":true,"result":"reverted","version":"1.0.0"}`, campaign.Notified}, // contradictory: refused
	}
	for id, r := range reports {
		e.Report(ctx, id, []byte(r.payload))
	}
	got := statuses(t, e, "r")
	for id, r := range reports {
		if got[id].Status != r.want {
			t.Errorf("%s: %s (%s), want %s", id, got[id].Status, got[id].Reason, r.want)
		}
	}
}

// forget drops the job recorded for a device, so that a later campaign may
// publish it another.
func (b *bench) forget(id string) { b.mu.Lock(); delete(b.jobs, id); b.mu.Unlock() }
