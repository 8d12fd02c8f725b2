package agent

import (
	"context"
	"encoding/json"
	"fmt"
)

// ProgressTopic is where a device reports how far its current job has
// got, between the download and the outcome: devices/<id>/progress.
func ProgressTopic(deviceID string) string { return "devices/" + deviceID + "/progress" }

// Progress steps the agent reports (docs/agent.md).
const (
	// ProgressInstalling: the image is downloaded and checked; the agent
	// is handing it to the SPE's firmware-update service.
	ProgressInstalling = "installing"
	// ProgressRebooted: the device rebooted into the new image for its
	// trial and is testing it.
	ProgressRebooted = "rebooted"
)

// MaxProgressSize bounds a progress message.
const MaxProgressSize = 1 << 10

// Progress is a progress message (QoS 1, not retained). It is a claim of
// the device, never proof of success: the fleet counts an update as done
// only on an attested outcome.
type Progress struct {
	JobID    string `json:"job"`
	Progress string `json:"progress"`          // installing or rebooted
	Version  string `json:"version,omitempty"` // running when sent
}

// ParseProgress decodes and validates a progress message.
func ParseProgress(b []byte) (Progress, error) {
	var p Progress
	if len(b) > MaxProgressSize {
		return p, fmt.Errorf("agent: progress: %d bytes, more than %d", len(b), MaxProgressSize)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("agent: progress: %w", err)
	}
	if p.JobID == "" || len(p.JobID) > 128 {
		return p, fmt.Errorf("agent: progress: job: empty or longer than 128 bytes")
	}
	if p.Progress != ProgressInstalling && p.Progress != ProgressRebooted {
		return p, fmt.Errorf("agent: progress: progress: %q is not %s or %s", p.Progress, ProgressInstalling, ProgressRebooted)
	}
	return p, nil
}

// reportProgress publishes a progress step of job, best effort and never
// again: without a session (the agent resumes an interrupted update before
// it connects, e.g. after a real reboot) the step is skipped, and a step
// that fails is not resent; the job's outcome supersedes it.
func (a *Agent) reportProgress(ctx context.Context, jobID, step string) {
	if !a.Connected() {
		return
	}
	p := Progress{JobID: jobID, Progress: step}
	if v, err := a.RunningVersion(); err == nil {
		p.Version = v
	}
	b, _ := json.Marshal(p)
	if err := a.publish(ctx, ProgressTopic(a.DeviceID()), b, false); err != nil {
		a.cfg.Log.Info("progress not sent", "job", jobID, "progress", step, "err", err)
	}
}
