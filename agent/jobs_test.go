package agent

import (
	"errors"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/deviceproto/deviceprototest"
)

// TestJobReplayRefused: the agent refuses a genuine job issued before the
// last one it took (or at the same time under another ID), and passes the
// last one itself, which the broker redelivers at every connection.
func TestJobReplayRefused(t *testing.T) {
	w := deviceprototest.New(t)
	a := &Agent{cfg: Config{Roots: w.Pool(), EnrollURL: w.EnrollURL, Now: func() time.Time { return w.Now }}, cert: w.Device, state: &State{}}
	old := w.Sign(t, "dev-a", func() deviceproto.Job { j := w.Job; j.ID = "old"; return j }())
	w.Now = w.Now.Add(time.Second)
	current := w.Sign(t, "dev-a", w.Job)
	j, err := a.verifyJob(current)
	if err != nil {
		t.Fatal(err)
	}
	a.state.Taken = &TakenJob{ID: j.ID, Issued: j.Issued}
	if _, err := a.verifyJob(current); err != nil {
		t.Fatalf("the job taken, redelivered: %v", err)
	}
	if _, err := a.verifyJob(old); !errors.Is(err, deviceproto.ErrJobReplayed) {
		t.Fatalf("an older job after a newer one was taken: %v", err)
	}
	a.state.Taken.ID = "another"
	if _, err := a.verifyJob(current); !errors.Is(err, deviceproto.ErrJobReplayed) {
		t.Fatalf("a job issued at the same time as another taken: %v", err)
	}
	w.Now = w.Now.Add(time.Second)
	if _, err := a.verifyJob(w.Sign(t, "dev-a", w.Job)); err != nil {
		t.Fatalf("a newer job: %v", err)
	}
	if _, err := a.verifyJob(w.Sign(t, "dev-b", w.Job)); !errors.Is(err, deviceproto.ErrJobDevice) {
		t.Fatalf("a job for another device: %v", err)
	}
}
