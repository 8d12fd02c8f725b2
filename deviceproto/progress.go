package deviceproto

import (
	"encoding/json"
	"fmt"
)

// Progress steps a device reports (docs/agent.md).
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

// Progress is a progress message, on the device's ProgressTopic (QoS 1,
// not retained). It is a claim of the device, never proof of success: the
// fleet counts an update as done only on an attested outcome.
type Progress struct {
	JobID    string `json:"job"`
	Progress string `json:"progress"`          // installing or rebooted
	Version  string `json:"version,omitempty"` // running when sent
}

// ParseProgress decodes and validates a progress message.
func ParseProgress(b []byte) (Progress, error) {
	var p Progress
	if len(b) > MaxProgressSize {
		return p, fmt.Errorf("deviceproto: progress: %d bytes, more than %d", len(b), MaxProgressSize)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("deviceproto: progress: %w", err)
	}
	if p.JobID == "" || len(p.JobID) > 128 {
		return p, fmt.Errorf("deviceproto: progress: job: empty or longer than 128 bytes")
	}
	if p.Progress != ProgressInstalling && p.Progress != ProgressRebooted {
		return p, fmt.Errorf("deviceproto: progress: progress: %q is not %s or %s", p.Progress, ProgressInstalling, ProgressRebooted)
	}
	return p, nil
}
