package sim

import (
	"context"
	"testing"
	"time"

	"rampart/agent"
	"rampart/fleet/store"
)

type world struct {
	f      *Fleet
	v1, v2 []byte
}

func newWorld(t *testing.T) *world {
	t.Helper()
	f, err := StartFleet(FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := &world{f: f}
	if w.v1, err = f.SignFirmware("1.0.0", 4096); err != nil {
		t.Fatal(err)
	}
	if w.v2, err = f.SignFirmware("2.0.0", 4500); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, img := range [][]byte{w.v1, w.v2} {
		if err := f.RegisterRelease(ctx, img, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) device(t *testing.T, i int) *Device {
	t.Helper()
	d, err := Manufacture(t.TempDir(), i, w.f, w.v1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.PowerOff)
	if err := w.f.Endorse(context.Background(), []*Device{d}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PowerOn(); err != nil {
		t.Fatal(err)
	}
	return d
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAgentLife: enroll by attestation, telemetry over mTLS MQTT, a job
// delivered through the broker, download, FWU, reboot, self-test, accept,
// outcome with a fresh token.
func TestAgentLife(t *testing.T) {
	w := newWorld(t)
	d := w.device(t, 0)
	a, err := d.StartAgent(w.f, AgentOptions{Interval: 50 * time.Millisecond, Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "enrollment", func() bool { return a.DeviceID() != "" })
	id := a.DeviceID()
	st := w.f.Server.Store()
	waitFor(t, "telemetry", func() bool {
		pts, _ := st.Points(ctx, store.PointQuery{DeviceID: id, Metric: "uptime_s"})
		return len(pts) >= 2
	})
	// The running version comes with the session's first readings: the
	// fleet knows the firmware of a device that never took an update.
	if pts, _ := st.Points(ctx, store.PointQuery{DeviceID: id, Metric: "fw_version"}); len(pts) == 0 || pts[0].Value != 10000 {
		t.Fatalf("fw_version before any update: %v, want 10000 (1.0.0)", pts)
	}
	job := w.f.Host("job-v2", "v2.bin", "2.0.0", w.v2)
	if err := w.f.PublishJob(ctx, id, job); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "update outcome", func() bool { s := a.State(); return s.Last != nil && s.Update == nil })
	last := a.State().Last
	if !last.OK || last.Version != "2.0.0" || len(last.Token) == 0 {
		t.Fatalf("outcome %+v", last)
	}
	if v, _ := a.RunningVersion(); v != "2.0.0" {
		t.Fatalf("running %s after the update", v)
	}
	waitFor(t, "fw_version telemetry", func() bool {
		pts, _ := st.Points(ctx, store.PointQuery{DeviceID: id, Metric: "fw_version"})
		return len(pts) >= 1 && pts[len(pts)-1].Value == 20000
	})
}
