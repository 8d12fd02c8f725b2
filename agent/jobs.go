package agent

import (
	"context"
	"fmt"

	"rampart/deviceproto"
)

// RefusedJobs is the number of job messages the agent refused (unsigned,
// forged, for another device, expired, replayed, or with a URL outside
// the fleet's endpoints), and why it refused the latest.
func (a *Agent) RefusedJobs() (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused, a.lastRefusal
}

// refuse counts a refused job message.
func (a *Agent) refuse(err error) {
	a.mu.Lock()
	a.refused++
	a.lastRefusal = err
	a.mu.Unlock()
	a.cfg.Log.Warn("job refused", "err", err)
}

// policy is what the agent checks a job message against now.
func (a *Agent) policy() deviceproto.JobPolicy {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, roots, _ := a.fleetLocked()
	return deviceproto.JobPolicy{Roots: roots, Device: a.cert, EnrollURL: u, Now: a.cfg.Now()}
}

// jobMsg is a verified job and the endpoints its image may be fetched
// from (deviceproto.SignedJob.DownloadEndpoints).
type jobMsg struct {
	job     deviceproto.Job
	mirrors []string
}

// verifyJob checks a job message: its signature and signer (jobsig.go),
// then that it is not a replay of a job older than the last one taken.
// It never trusts the transport: any client that reaches the jobs topic,
// or the broker itself, is as hostile as the network.
func (a *Agent) verifyJob(msg []byte) (deviceproto.Job, error) {
	m, err := a.verifyJobMsg(msg)
	return m.job, err
}

func (a *Agent) verifyJobMsg(msg []byte) (jobMsg, error) {
	s, err := deviceproto.DecodeJob(msg)
	if err != nil {
		return jobMsg{}, err
	}
	p := a.policy()
	if err := s.Verify(p); err != nil {
		return jobMsg{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return jobMsg{s.Job, s.DownloadEndpoints(p.EnrollURL)}, a.replayLocked(s.Job)
}

// replayLocked refuses a job issued before the last one taken, or issued
// at the same time under another ID. The last one itself (redelivered as
// the retained message at every connection) passes: HandleJob resumes it
// or answers with its outcome.
func (a *Agent) replayLocked(j deviceproto.Job) error {
	t := a.state.Taken
	if t == nil || j.Issued > t.Issued || (j.Issued == t.Issued && j.ID == t.ID) {
		return nil
	}
	return fmt.Errorf("%w: job %s issued at %d, the last job taken (%s) at %d", deviceproto.ErrJobReplayed, j.ID, j.Issued, t.ID, t.Issued)
}

// receiveJob is the MQTT path: a refused message is counted and logged, a
// verified job queued for the session loop.
func (a *Agent) receiveJob(msg []byte) {
	if deviceproto.IsTransfer(msg) {
		a.receiveTransfer(msg)
		return
	}
	if deviceproto.IsTrust(msg) {
		a.receiveTrust(msg)
		return
	}
	j, err := a.verifyJobMsg(msg)
	if err != nil {
		a.refuse(err)
		return
	}
	select {
	case a.jobs <- j:
	default: // a job is already waiting; the retained one is redelivered on reconnect
	}
}

// HandleJob verifies a job message and carries the job out (takeJob). A
// refused message returns the refusal, wrapped as fatal.
func (a *Agent) HandleJob(ctx context.Context, msg []byte) (*deviceproto.Outcome, error) {
	j, err := a.verifyJobMsg(msg)
	if err != nil {
		a.refuse(err)
		return nil, fatal(err)
	}
	return a.takeJob(ctx, j)
}
