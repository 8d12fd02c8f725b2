package campaign_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// TestOperatorActionNotOverwrittenByStep: a failure crosses the threshold
// and the engine pauses the campaign; the step that records the pause has
// decided it when the operator cancels the campaign, and writes it after
// the cancel. The cancel stands: the store, the engine and an engine
// started afterwards all say cancelled. (Before campaign rows carried a
// version, the step's late write put the campaign back to paused: a
// restart resurrected a cancelled campaign.)
func TestOperatorActionNotOverwrittenByStep(t *testing.T) {
	const a = campaign.Cancel
	b := newBench(t, 8)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "race", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 0.1}}, MaxConcurrent: 4}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	var failing string
	for id := range b.jobs {
		failing = id
		break
	}
	// The engine pauses at once, in memory; the next step writes it.
	report(t, e, failing, deviceproto.Outcome{JobID: "race", Result: deviceproto.ResultFailed, Error: "agent: flash write failed"})
	if s, _ := e.Status("race", false); s.State != campaign.Paused {
		t.Fatalf("after the failure: %s", s.State)
	}
	want := campaign.Stopped
	acted := false
	campaign.SetHookBeforeSave(e, func() {
		if acted {
			return
		}
		acted = true
		if _, err := e.Control(ctx, "race", a, "operator", "by hand"); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	})
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	campaign.SetHookBeforeSave(e, nil)
	if !acted {
		t.Fatal("the hook did not run")
	}
	rec, err := b.db.Campaign(ctx, "race")
	if err != nil || campaign.State(rec.State) != want {
		t.Fatalf("stored state after the operator's %s and the step's write: %+v %v, want %s", a, rec, err, want)
	}
	if s, err := e.Status("race", false); err != nil || s.State != want {
		t.Fatalf("engine says %+v %v, want %s", s, err, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := b.engine(t).Status("race", false); err != nil || s.State != want {
		t.Fatalf("after a restart: %+v %v, want %s", s, err, want)
	}
}

// TestDeposedEvaluatorWritesNothing: an engine that still believes it
// holds the campaigns lease (a node paused past its lease, then resumed)
// after another took it over decides notifications, but its write is
// refused by the fence: no job goes out from it, it stops evaluating, and
// the evaluator of the current epoch notifies each device once.
func TestDeposedEvaluatorWritesNothing(t *testing.T) {
	b := newBench(t, 8)
	ctx := context.Background()
	if l, err := b.db.AcquireLease(ctx, campaign.LeaseName, "old", time.Second); err != nil || l.Epoch != 1 {
		t.Fatal(l, err)
	}
	b.advance(2 * time.Second)
	if l, err := b.db.AcquireLease(ctx, campaign.LeaseName, "new", 3*time.Second); err != nil || l.Epoch != 2 {
		t.Fatal(l, err)
	}
	old := b.clusterEngine(t, func() (int64, bool) { return 1, true })
	cur := b.clusterEngine(t, func() (int64, bool) { return 2, true })
	spec := campaign.Spec{ID: "fenced", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 4}
	if _, err := old.Create(ctx, spec, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := old.Step(ctx); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("the deposed evaluator's step: %v, want ErrFenced", err)
	}
	if n := b.published(); n != 0 {
		t.Fatalf("the deposed evaluator published %d jobs", n)
	}
	rows, err := b.db.CampaignDevices(ctx, "fenced")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Status != string(campaign.Queued) {
			t.Fatalf("the deposed evaluator's decision was written: %+v", r)
		}
	}
	if err := cur.Step(ctx); err != nil {
		t.Fatal(err)
	}
	// Its next step reads what the evaluator wrote: nothing left to
	// decide (MaxConcurrent in flight), so nothing to write either.
	old.Step(ctx)
	if n := b.published(); n != 4 || b.dups != 0 {
		t.Fatalf("%d jobs published (%d a second time to a device), want 4 once each", n, b.dups)
	}
	if s, err := old.Status("fenced", false); err != nil || s.Counts[campaign.Notified] != 4 {
		t.Fatalf("the deposed node reads: %+v %v", s, err)
	}
}

// TestOperatorOnAnotherNode: the evaluator has decided a pause (a failure
// crossed the threshold) and not yet written it when an operator cancels
// the campaign through another node; the cancel stands on both nodes.
// That node serves the image to a device notified by the evaluator before
// it read the campaign (it reads the store on demand), and a report
// taken in there is written at once.
func TestOperatorOnAnotherNode(t *testing.T) {
	b := newBench(t, 8)
	ctx := context.Background()
	if l, err := b.db.AcquireLease(ctx, campaign.LeaseName, "a", time.Hour); err != nil || !l.Held {
		t.Fatal(l, err)
	}
	lead := b.clusterEngine(t, func() (int64, bool) { return 1, true })
	other := b.clusterEngine(t, func() (int64, bool) { return 0, false }) // serves b.srv
	spec := campaign.Spec{ID: "two", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 0.1}}, MaxConcurrent: 4}
	if _, err := lead.Create(ctx, spec, "operator"); err != nil {
		t.Fatal(err)
	}
	if err := lead.Step(ctx); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range b.jobs {
		ids = append(ids, id)
	}
	// The other node has not read the campaign: the download is served.
	if r, err := httpsClient.Get(b.job(t, ids[0]).URL); err != nil || r.StatusCode != 200 {
		t.Fatalf("download from the other node: %v %v", r, err)
	}
	// A failure reported there is written at once; the evaluator reads it
	// and pauses.
	report(t, other, ids[1], deviceproto.Outcome{JobID: "two", Result: deviceproto.ResultFailed, Error: "agent: flash write failed"})
	if d, err := b.db.CampaignDevice(ctx, "two", ids[1]); err != nil || d.Status != string(campaign.Failed) {
		t.Fatalf("the failure taken in by the other node: %+v %v", d, err)
	}
	campaign.SetHookBeforeSave(lead, func() {
		campaign.SetHookBeforeSave(lead, nil)
		if _, err := other.Control(ctx, "two", campaign.Cancel, "operator", "by hand"); err != nil {
			t.Errorf("cancel: %v", err)
		}
	})
	if err := lead.Step(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := b.db.Campaign(ctx, "two")
	if err != nil || campaign.State(rec.State) != campaign.Stopped {
		t.Fatalf("stored: %+v %v, want cancelled", rec, err)
	}
	for _, e := range []*campaign.Engine{lead, other} {
		if s, err := e.Status("two", false); err != nil || s.State != campaign.Stopped {
			t.Fatalf("a node says %+v %v, want cancelled", s, err)
		}
	}
	list, err := b.db.AuditLog(ctx, store.AuditFilter{Subject: "two", Action: "campaign.paused"})
	if err != nil || len(list) != 0 {
		t.Fatalf("the overtaken pause was audited: %v %v", list, err)
	}
}

// TestStaleRowNotApplied: on several nodes a device's row is read on
// demand (an event from it, or a sync) while the evaluator writes its
// notification. A row read before that write and applied after it took
// the device back to queued in memory: the job the step had decided was
// then not published (the device stayed notified, without a job, for
// ever; clustertest KillNodeMidCampaign). Such a row is not applied.
func TestStaleRowNotApplied(t *testing.T) {
	b := newBench(t, 4)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "stale", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 1}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	readAt := campaign.ReadClock(e)
	rows, err := b.db.CampaignDevices(ctx, "stale")
	if err != nil || len(rows) != 4 {
		t.Fatalf("rows %v %v", rows, err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := e.Status("stale", false)
	if err != nil || s.Counts[campaign.Notified] != 1 {
		t.Fatalf("after the step: %+v %v, want one device notified", s, err)
	}
	for _, r := range rows { // read before the step's write: every device queued
		campaign.ApplyRow(e, "stale", r, readAt)
	}
	if s, err := e.Status("stale", false); err != nil || s.Counts[campaign.Notified] != 1 {
		t.Fatalf("after applying rows read before the step's write: %+v %v, want the device still notified", s, err)
	}
	// A row read after the write is applied as before.
	rows, _ = b.db.CampaignDevices(ctx, "stale")
	for _, r := range rows {
		campaign.ApplyRow(e, "stale", r, campaign.ReadClock(e))
	}
	if s, err := e.Status("stale", false); err != nil || s.Counts[campaign.Notified] != 1 {
		t.Fatalf("after applying the current rows: %+v %v", s, err)
	}
}
