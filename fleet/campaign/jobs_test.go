package campaign_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// TestJobPublishedAgainOnConnect: a device that connects while its job is
// in flight in a running campaign gets the job published again (the
// broker calls Connected before the device subscribes), whatever became
// of the retained copy (expired, lost): the message signed last while
// less than half its validity has passed (no new signature), else a new
// signature of the same job (same nonce and download URL), each with the
// expiry the broker keeps it until. Before, jobs were published again only
// when the engine started, and the broker deleted them after an hour.
// Nothing is published for a device with no job in flight, nor while the
// campaign is paused.
func TestJobPublishedAgainOnConnect(t *testing.T) {
	b := newBench(t, 3)
	ctx := context.Background()
	b.srv = httptest.NewTLSServer(nil)
	defer b.srv.Close()
	type pub struct {
		dev     string
		msg     []byte
		expires time.Time
	}
	var mu sync.Mutex
	var pubs []pub
	published := func() []pub { mu.Lock(); defer mu.Unlock(); return append([]pub(nil), pubs...) }
	signer := b.jobSigner(t)
	signer.TTL = 2 * time.Hour
	e, err := campaign.New(ctx, campaign.Config{Store: b.db, Now: b.clock, KeySecret: b.keySecret(), Jobs: signer,
		ImageBase: func() string { return b.srv.URL },
		Publish: func(id string, p []byte, expires time.Time) error {
			mu.Lock()
			pubs = append(pubs, pub{id, p, expires})
			mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	spec := campaign.Spec{ID: "c1", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 1}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	p := published()
	if len(p) != 1 {
		t.Fatalf("%d jobs published, want 1 (MaxConcurrent)", len(p))
	}
	first := p[0]
	dev := first.dev
	verify := func(q pub) deviceproto.Job {
		t.Helper()
		j, err := deviceproto.VerifyJob(q.msg, deviceproto.JobPolicy{Roots: testCA(t).Pool(), Device: deviceCert(t, dev), EnrollURL: b.srv.URL, Now: b.clock()})
		if err != nil {
			t.Fatal(err)
		}
		if !q.expires.Equal(time.UnixMilli(j.Expires)) {
			t.Fatalf("published to be kept until %v, the job expires at %v", q.expires, time.UnixMilli(j.Expires))
		}
		return j
	}
	j0 := verify(first)

	// A device with no job in flight: nothing.
	for _, id := range []string{"dev-000", "dev-001", "dev-002"} {
		if id != dev {
			e.Connected(id)
		}
	}
	if n := len(published()); n != 1 {
		t.Fatalf("%d publications after devices without a job connected", n)
	}
	// The device connects: the same message again.
	e.Connected(dev)
	p = published()
	if len(p) != 2 || p[1].dev != dev || !bytes.Equal(p[1].msg, first.msg) || !p[1].expires.Equal(first.expires) {
		t.Fatalf("on connect: %d publications, the last %+v", len(p), p[len(p)-1].dev)
	}
	// Past half the job's validity: signed again, the same job.
	b.advance(61 * time.Minute)
	e.Connected(dev)
	p = published()
	if len(p) != 3 || bytes.Equal(p[2].msg, first.msg) {
		t.Fatalf("on connect past half the validity: %d publications, signed again %v", len(p), len(p) == 3)
	}
	j1 := verify(p[2])
	if j1.ID != j0.ID || j1.URL != j0.URL || !bytes.Equal(j1.Nonce, j0.Nonce) || j1.Issued <= j0.Issued || !time.UnixMilli(j1.Expires).Equal(b.clock().Add(2*time.Hour)) {
		t.Fatalf("job signed again %+v, first %+v", j1, j0)
	}
	// Paused: nothing.
	if _, err := e.Control(ctx, "c1", campaign.Pause, "test", "hold"); err != nil {
		t.Fatal(err)
	}
	e.Connected(dev)
	if n := len(published()); n != 3 {
		t.Fatalf("%d publications, a job published again in a paused campaign", n)
	}
}
