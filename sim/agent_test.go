package sim

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/psa"
	"rampart/psaclient"
)

var fastBackoff = agent.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}

// runAgent starts the device's agent and returns a stop function.
func runAgent(t *testing.T, w *world, d *Device, o AgentOptions) (*agent.Agent, func()) {
	t.Helper()
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	o.Backoff = fastBackoff
	a, err := d.StartAgent(w.f, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	return a, func() { cancel(); <-done }
}

func outcome(t *testing.T, a *agent.Agent, jobID string) *deviceproto.Outcome {
	t.Helper()
	var o *deviceproto.Outcome
	waitFor(t, "outcome of "+jobID, func() bool {
		s := a.State()
		if s.Last != nil && s.Last.JobID == jobID && s.Update == nil {
			o = s.Last
			return true
		}
		return false
	})
	return o
}

// TestPowerCutEveryPhase cuts power once at each point of an update; after
// power-on the agent resumes from its persisted state. A cut during the
// trial boot (before the agent accepted the image) is reverted by the
// bootloader, and reported as a failure.
func TestPowerCutEveryPhase(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		hooks  func(cut func() error) *agent.Hooks
		wantOK bool
	}{
		{"mid-download", func(cut func() error) *agent.Hooks {
			return &agent.Hooks{DownloadBlock: func(int64) error { return cut() }}
		}, true},
		{"downloaded", func(cut func() error) *agent.Hooks { return phaseHook(agent.PhaseDownloaded, cut) }, true},
		{"staged", func(cut func() error) *agent.Hooks { return phaseHook(agent.PhaseStaged, cut) }, true},
		{"trial", func(cut func() error) *agent.Hooks { return phaseHook(agent.PhaseTrial, cut) }, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := w.device(t, i)
			cutCh := make(chan struct{})
			fired := false
			cut := func() error {
				if fired {
					return nil
				}
				fired = true
				close(cutCh)
				return ErrPowerCut
			}
			a, stop := runAgent(t, w, d, AgentOptions{Hooks: tc.hooks(cut)})
			waitFor(t, "connection", a.Connected)
			job := w.f.Host("job-"+tc.name, "v2.bin", "2.0.0", w.v2)
			if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
				t.Fatal(err)
			}
			select {
			case <-cutCh:
			case <-time.After(20 * time.Second):
				t.Fatal("the power cut never happened")
			}
			// Power cut: the agent's process dies with the device.
			stop()
			d.PowerOff()
			if a.Pending() == nil {
				t.Fatal("no update persisted at the power cut")
			}
			if _, err := d.PowerOn(); err != nil {
				t.Fatal(err)
			}
			a2, stop2 := runAgent(t, w, d, AgentOptions{})
			defer stop2()
			o := outcome(t, a2, job.ID)
			if o.OK != tc.wantOK {
				t.Fatalf("outcome %+v, want ok=%v", o, tc.wantOK)
			}
			want := "2.0.0"
			if !tc.wantOK {
				want = "1.0.0"
				if o.Result != deviceproto.ResultReverted || !strings.Contains(o.Error, "reverted") {
					t.Fatalf("outcome %s (%q), want reverted", o.Result, o.Error)
				}
			}
			if v, _ := a2.RunningVersion(); v != want || o.Version != want || len(o.Token) == 0 {
				t.Fatalf("running %s, outcome %+v, want %s", v, o, want)
			}
		})
	}
}

func phaseHook(p agent.Phase, cut func() error) *agent.Hooks {
	return &agent.Hooks{AfterPhase: func(got agent.Phase) error {
		if got == p {
			return cut()
		}
		return nil
	}}
}

// TestSelfTestFailureReverts: an image the fleet knows and the SPE accepts,
// but whose self-test fails, is rejected and the bootloader reverts it.
func TestSelfTestFailureReverts(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	a, stop := runAgent(t, w, d, AgentOptions{SelfTest: func(_ context.Context, v string) error {
		if v == "2.0.0" {
			return errors.New("sensor bus does not answer")
		}
		return nil
	}})
	defer stop()
	waitFor(t, "connection", a.Connected)
	job := w.f.Host("bad-v2", "v2.bin", "2.0.0", w.v2)
	if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		t.Fatal(err)
	}
	o := outcome(t, a, job.ID)
	if o.OK || o.Result != deviceproto.ResultReverted || o.Version != "1.0.0" || !strings.Contains(o.Error, "sensor bus") {
		t.Fatalf("outcome %+v", o)
	}
	// The device reconnects and reports running v1.
	waitFor(t, "update_ok=0 reported", func() bool {
		pts, _ := w.f.Server.Store().Points(context.Background(), store.PointQuery{DeviceID: a.DeviceID(), Metric: "update_ok"})
		return len(pts) > 0 && pts[len(pts)-1].Value == 0
	})
}

// TestUnknownFirmwareRefusedByFleet: a validly signed image the fleet has
// not registered boots, but the fleet refuses its attestation, so the
// trial is rejected and reverted.
func TestUnknownFirmwareRefusedByFleet(t *testing.T) {
	w := newWorld(t)
	v3, err := w.f.SignFirmware("3.0.0", 4200)
	if err != nil {
		t.Fatal(err)
	}
	d := w.device(t, 0)
	a, stop := runAgent(t, w, d, AgentOptions{})
	defer stop()
	waitFor(t, "connection", a.Connected)
	job := w.f.Host("unregistered-v3", "v3.bin", "3.0.0", v3)
	if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		t.Fatal(err)
	}
	o := outcome(t, a, job.ID)
	if o.OK || o.Result != deviceproto.ResultReverted || o.Version != "1.0.0" || !strings.Contains(o.Error, "unknown-firmware") {
		t.Fatalf("outcome %+v", o)
	}
}

// TestRenewal: the agent renews its certificate by re-attestation before
// it expires.
func TestRenewal(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	o := AgentOptions{Backoff: fastBackoff}
	o.Interval = time.Second
	a, err := d.StartAgent(w.f, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.EnsureEnrolled(ctx); err != nil {
		t.Fatal(err)
	}
	first := a.Certificate()
	// The fleet's certificates live 24 h: an hour before expiry the agent
	// must renew.
	a2cfgNow := first.NotAfter.Add(-time.Hour)
	a.Close()
	d.Agent = nil
	o.Now = func() time.Time { return a2cfgNow }
	a, err = d.StartAgent(w.f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EnsureEnrolled(ctx); err != nil {
		t.Fatal(err)
	}
	if a.Certificate().SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("not renewed an hour before expiry")
	}
	certs, _ := w.f.Server.Store().Certificates(ctx, a.DeviceID())
	if len(certs) != 2 {
		t.Fatalf("%d certificates on record, want 2", len(certs))
	}
}

// TestGivesUpAfterMaxAttempts: an update that fails at the same point on
// every run ends as a failure instead of looping forever.
func TestGivesUpAfterMaxAttempts(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	runs := 0
	a, stop := runAgent(t, w, d, AgentOptions{Hooks: &agent.Hooks{Resume: func(agent.Phase) error {
		runs++
		return errors.New("agent crashed")
	}}})
	defer stop()
	waitFor(t, "connection", a.Connected)
	job := w.f.Host("crashing", "v2.bin", "2.0.0", w.v2)
	if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		t.Fatal(err)
	}
	o := outcome(t, a, job.ID)
	if o.OK || o.Result != deviceproto.ResultFailed || !strings.Contains(o.Error, "gave up") || o.Version != "1.0.0" {
		t.Fatalf("outcome %+v after %d runs", o, runs)
	}
	if runs > agent.MaxAttempts {
		t.Fatalf("%d runs, more than %d attempts", runs, agent.MaxAttempts)
	}
}

// TestSPERefusesDowngrade: with the agent's own check out of the way, an
// older image handed straight to the SPE does not run: the bootloader's
// downgrade prevention refuses it at the reboot.
func TestSPERefusesDowngrade(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	a, stop := runAgent(t, w, d, AgentOptions{})
	defer stop()
	waitFor(t, "connection", a.Connected)
	job := w.f.Host("v2", "v2.bin", "2.0.0", w.v2)
	if err := w.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		t.Fatal(err)
	}
	if o := outcome(t, a, job.ID); !o.OK {
		t.Fatalf("update to v2: %+v", o)
	}
	l, err := d.Platform().Server.Local(-1)
	if err != nil {
		t.Fatal(err)
	}
	fw := psaclient.NewFWU(l)
	defer fw.Close()
	fw.Clean(0) // the accepted v2 left the component UPDATED
	if err := fw.Start(0); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(0, 0, w.v1); err != nil {
		t.Fatal(err)
	}
	// The FWU service verifies signature and security counter only; the
	// downgrade is refused by the bootloader at the reboot (downgrade
	// prevention), which keeps v2.
	if err := fw.Finish(0); err != nil {
		t.Logf("refused at finish: %v", err)
		return
	}
	if _, err := fw.Install(); err != nil {
		t.Logf("refused at install: %v", err)
		return
	}
	if err := fw.RequestReboot(); err != nil {
		t.Fatal(err)
	}
	info, err := fw.Query(0)
	if err != nil {
		t.Fatal(err)
	}
	if info.State == psa.FWUTrial || info.Version.Major != 2 {
		t.Fatalf("the bootloader booted the downgrade: %+v", info)
	}
	if v, _ := a.RunningVersion(); v != "2.0.0" {
		t.Fatalf("running %s", v)
	}
}

// TestOutcomeReportedAfterRenewalWithoutBackoff: the update's confirmation
// renews the certificate by re-attestation, and the broker ends the
// session opened with the old one (superseded). The agent knows it has
// just renewed: it reconnects at once with the new certificate and
// reports the outcome. Before, it noticed the lost session only after the
// outcome's publish had failed, and reconnected after a retry backoff
// (here at least 5 minutes: the test would time out).
func TestOutcomeReportedAfterRenewalWithoutBackoff(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	slow := agent.Backoff{Base: 10 * time.Minute, Max: 10 * time.Minute}
	a, err := d.StartAgent(w.f, AgentOptions{Interval: time.Hour, Backoff: slow})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the session", a.Connected)
	id := a.DeviceID()
	first := a.Certificate()
	if err := w.f.PublishJob(ctx, id, w.f.Host("renew-v2", "v2.bin", "2.0.0", w.v2)); err != nil {
		t.Fatal(err)
	}
	st := w.f.Server.Store()
	waitFor(t, "the outcome at the server (fw_version 2.0.0)", func() bool {
		pts, _ := st.Points(ctx, store.PointQuery{DeviceID: id, Metric: "fw_version"})
		return len(pts) >= 1 && pts[len(pts)-1].Value == 20000
	})
	if a.Certificate().SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the update's confirmation did not renew the certificate: the test shows nothing")
	}
	if last := a.State().Last; last == nil || !last.OK || last.JobID != "renew-v2" {
		t.Fatalf("outcome %+v", last)
	}
}
