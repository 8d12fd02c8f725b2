package agent

import (
	"context"
	"encoding/json"

	"rampart/deviceproto"
)

// reportProgress publishes a progress step of job, best effort and never
// again: without a session (the agent resumes an interrupted update before
// it connects, e.g. after a real reboot) the step is skipped, and a step
// that fails is not resent; the job's outcome supersedes it.
func (a *Agent) reportProgress(ctx context.Context, jobID, step string) {
	if !a.Connected() {
		return
	}
	p := deviceproto.Progress{JobID: jobID, Progress: step}
	if v, err := a.RunningVersion(); err == nil {
		p.Version = v
	}
	b, _ := json.Marshal(p)
	if err := a.publish(ctx, deviceproto.ProgressTopic(a.DeviceID()), b, false); err != nil {
		a.cfg.Log.Info("progress not sent", "job", jobID, "progress", step, "err", err)
	}
}
