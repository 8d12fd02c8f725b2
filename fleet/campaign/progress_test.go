package campaign_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

func progress(e *campaign.Engine, dev string, p any) {
	b, _ := json.Marshal(p)
	e.Report(context.Background(), dev, b)
}

// TestProgressMessages: a device's progress moves it through downloading,
// downloaded (the image server), installing and rebooted (the agent's
// progress messages), forward only and for its own campaign only; no
// progress message makes it verified, and an outcome still decides.
func TestProgressMessages(t *testing.T) {
	b := newBench(t, 2)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "p", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	seen := []campaign.Status{statuses(t, e, "p")["dev-000"].Status}
	e.Step(ctx)
	seen = append(seen, statuses(t, e, "p")["dev-000"].Status)
	u := b.job(t, "dev-000").URL
	if code, _ := get(t, u, "bytes=0-99"); code != 206 {
		t.Fatalf("range: %d", code)
	}
	seen = append(seen, statuses(t, e, "p")["dev-000"].Status)
	if code, _ := get(t, u, "bytes=100-"); code != 206 {
		t.Fatalf("range: %d", code)
	}
	seen = append(seen, statuses(t, e, "p")["dev-000"].Status)
	progress(e, "dev-000", deviceproto.Progress{JobID: "other-campaign", Progress: deviceproto.ProgressInstalling})
	progress(e, "dev-000", deviceproto.Progress{JobID: "p", Progress: deviceproto.ProgressInstalling})
	seen = append(seen, statuses(t, e, "p")["dev-000"].Status)
	progress(e, "dev-000", map[string]any{"job": "p", "progress": "verified", "ok": true, "version": "2.0.0"})
	progress(e, "dev-000", map[string]any{"job": "p", "progress": "done"})
	if st := statuses(t, e, "p")["dev-000"].Status; st != campaign.Installing {
		t.Fatalf("after forged steps: %s, want installing", st)
	}
	progress(e, "dev-000", deviceproto.Progress{JobID: "p", Progress: deviceproto.ProgressRebooted, Version: "2.0.0"})
	progress(e, "dev-000", deviceproto.Progress{JobID: "p", Progress: deviceproto.ProgressInstalling}) // late, out of order
	seen = append(seen, statuses(t, e, "p")["dev-000"].Status)
	want := []campaign.Status{campaign.Queued, campaign.Notified, campaign.Downloading, campaign.Downloaded, campaign.Installing, campaign.Rebooted}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("progress %v, want %v", seen, want)
		}
	}
	// A rebooted device is still only in flight: the watch window fails it
	// unless an attested outcome arrives; an outcome without a token fails it.
	s, _ := e.Status("p", false)
	if s.Counts[campaign.Verified] != 0 || s.Counts[campaign.Rebooted] != 1 || s.Phases[0].InFlight != 2 {
		t.Fatalf("counts %v, phase %+v", s.Counts, s.Phases[0])
	}
	report(t, e, "dev-000", deviceproto.Outcome{JobID: "p", OK: true, Version: "2.0.0"})
	if d := statuses(t, e, "p")["dev-000"]; d.Status != campaign.Failed {
		t.Fatalf("outcome without attestation: %+v, want failed", d)
	}
	progress(e, "dev-000", deviceproto.Progress{JobID: "p", Progress: deviceproto.ProgressRebooted})
	if d := statuses(t, e, "p")["dev-000"]; d.Status != campaign.Failed {
		t.Fatalf("progress after the outcome: %+v, want failed", d)
	}
	// Progress persists like any change.
	b.advance(time.Second)
	progress(e, "dev-001", deviceproto.Progress{JobID: "p", Progress: deviceproto.ProgressInstalling})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := b.engine(t)
	if d := statuses(t, e2, "p")["dev-001"]; d.Status != campaign.Installing {
		t.Fatalf("after restart: %+v, want installing", d)
	}
}
