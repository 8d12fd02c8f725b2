package sim

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"rampart/deviceproto"
)

var devicesFlag = flag.Int("devices", 0, "run TestSimScale with this many devices (e.g. 10000)")

// TestSimFaults: a small fleet onboards and reports through a flaky
// network, one clock runs 36 h fast, and an update reaches every device:
// the tampered image is refused, the power cut resumes and finishes.
func TestSimFaults(t *testing.T) {
	rep, err := Run(context.Background(), Options{Devices: 12, Dir: t.TempDir(), Update: true, Seed: 1, Timeout: 40 * time.Second,
		Faults: Faults{FlakyNetwork: 0.2, PowerCuts: 2, Tampered: 2, ClockSkew: 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if !rep.OK() || rep.Updated != 10 || rep.TamperRefused != 2 || rep.PowerCutResume != 2 || rep.ClockSkewed != 2 {
		t.Fatalf("report %+v", rep)
	}
}

// TestSimScale onboards 1,000 devices (or -devices N) against the real
// in-process server and checks every one reports.
func TestSimScale(t *testing.T) {
	n := 1000
	if *devicesFlag > 0 {
		n = *devicesFlag
	}
	if testing.Short() {
		n = 100
	}
	rep, err := Run(context.Background(), Options{Devices: n, Dir: t.TempDir(), Progress: progressOut()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d devices: manufacture %v, onboard+report %v, CPU %v, max RSS %d MiB, heap %d MiB, broker connections %d",
		n, rep.Manufacture, rep.Onboard, rep.CPU, rep.MaxRSSBytes>>20, rep.HeapBytes>>20, rep.BrokerConns)
	if !rep.OK() {
		t.Fatalf("report %+v", rep)
	}
}

func progressOut() *os.File {
	if testing.Verbose() {
		return os.Stderr
	}
	return nil
}

// TestSimCampaign: the rollout as a fleet campaign, with a power cut and a
// tampered download; the fleet verifies the updated devices by attestation.
func TestSimCampaign(t *testing.T) {
	rep, err := Run(context.Background(), Options{Devices: 8, Dir: t.TempDir(), Update: true, Campaign: true, Seed: 2, Timeout: 40 * time.Second,
		Faults: Faults{PowerCuts: 1, Tampered: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if !rep.OK() || rep.Updated != 7 || rep.TamperRefused != 1 || rep.PowerCutResume != 1 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Campaign["verified"] != 7 || rep.Campaign["failed"]+rep.Campaign["reverted"] != 1 {
		t.Fatalf("campaign counts %v", rep.Campaign)
	}
}

// TestPublishedSurvivesAgentReplacement pins the accounting a power cut
// needs: telemetry acknowledged to a device's earlier agent still counts
// while the resumed agent has not published yet (this raced in TestSimFaults
// and TestSimCommand: a resumed device was reported as not reporting).
func TestPublishedSurvivesAgentReplacement(t *testing.T) {
	var sd simDevice
	if sd.published() != 0 {
		t.Fatalf("new device published %d", sd.published())
	}
	sd.earlier.Add(3) // what the agent before the power cut had published
	if got := sd.published(); got != 3 {
		t.Fatalf("after a power cut with no new agent yet: published %d, want 3", got)
	}
}

// TestRolloutVerdict: a device's rollout is judged by its outcome's
// result. A tampered image reported reverted ran before the bootloader
// went back: that is a failure of the run, not a refusal (the ok-based
// check this replaced counted every not-ok outcome on 1.0.0 as refused).
func TestRolloutVerdict(t *testing.T) {
	out := func(job string, res deviceproto.Result, version string) *deviceproto.Outcome {
		return &deviceproto.Outcome{JobID: job, OK: res == deviceproto.ResultOK, Result: res, Version: version}
	}
	for _, tc := range []struct {
		name   string
		jobID  string
		tamper bool
		last   *deviceproto.Outcome
		want   verdict
	}{
		{"updated", "j", false, out("j", deviceproto.ResultOK, "2.0.0"), updated},
		{"tampered image refused", "j", true, out("j", deviceproto.ResultFailed, "1.0.0"), tamperRefused},
		{"tampered image ran, reverted", "j", true, out("j", deviceproto.ResultReverted, "1.0.0"), rolloutFailed},
		{"tampered image kept", "j", true, out("j", deviceproto.ResultOK, "2.0.0"), rolloutFailed},
		{"genuine image reverted", "j", false, out("j", deviceproto.ResultReverted, "1.0.0"), rolloutFailed},
		{"ok on the old version", "j", false, out("j", deviceproto.ResultOK, "1.0.0"), rolloutFailed},
		{"another job's outcome", "j", false, out("k", deviceproto.ResultOK, "2.0.0"), rolloutFailed},
		{"a campaign's job (any ID)", "", false, out("k", deviceproto.ResultOK, "2.0.0"), updated},
		{"no outcome", "j", false, nil, rolloutFailed},
	} {
		if got := verdictOf(tc.jobID, tc.tamper, tc.last); got != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, got, tc.want)
		}
	}
}
