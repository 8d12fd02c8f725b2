package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"rampart/deviceproto"
	"rampart/internal/secfile"
)

// StateFile is the agent's persisted state in its directory.
const StateFile = "state.json"

// Phase is where an update stands.
type Phase string

// Update phases, in order. Each is persisted before the work of the next
// one starts, so a restart resumes from the last one reached.
const (
	PhaseDownloading Phase = "downloading" // fetching the image (resumable)
	PhaseDownloaded  Phase = "downloaded"  // image complete and checked
	PhaseStaged      Phase = "staged"      // SPE verified and installed it; reboot next
	PhaseTrial       Phase = "trial"       // rebooted into the new image; self-test next
	PhaseDone        Phase = "done"        // accepted and re-attested
	PhaseFailed      Phase = "failed"      // refused or reverted
)

// State is what the agent keeps across restarts. It holds no secret: the
// key is in the SPE; the certificate is public.
type State struct {
	DeviceID string `json:"device_id,omitempty"`
	CertDER  []byte `json:"cert,omitempty"`
	// MQTTEndpoints are the fleet's MQTT endpoints (host:port) from the
	// latest enrollment answer (endpoints.go).
	MQTTEndpoints []string `json:"mqtt_endpoints,omitempty"`
	Update        *Update  `json:"update,omitempty"`
	// Last is the outcome of the latest finished job.
	Last *deviceproto.Outcome `json:"last,omitempty"`
	// Taken is the latest job the agent took: a job issued before it is
	// a replay and refused.
	Taken *TakenJob `json:"taken,omitempty"`
	// Fleet is the fleet the device was transferred to (nil: the
	// configured one); Moving a transfer under way (transfer.go).
	Fleet  *FleetRef `json:"fleet,omitempty"`
	Moving *Moving   `json:"moving,omitempty"`
}

// TakenJob identifies the latest job taken.
type TakenJob struct {
	ID     string `json:"id"`
	Issued int64  `json:"issued"` // Unix ms, the fleet's signing time
}

// Update is an update in progress.
type Update struct {
	Job      deviceproto.Job `json:"job"`
	Phase    Phase           `json:"phase"`
	Attempts int             `json:"attempts"`
	From     string          `json:"from_version"`
	// Mirrors are the endpoints (host:port) the image may be fetched
	// from besides the job's URL: the enrollment endpoint and those the
	// job signer certified (download.go). An update an older agent
	// persisted has none.
	Mirrors []string `json:"mirrors,omitempty"`
}

func loadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if os.IsNotExist(err) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("agent: state: %s: %w", StateFile, err)
	}
	for _, e := range s.MQTTEndpoints {
		if err := deviceproto.CheckEndpoint(e); err != nil {
			return nil, fmt.Errorf("agent: state: %w", err)
		}
	}
	if s.Update != nil {
		// CheckImage, not Validate: the job may have been taken by an
		// older agent, before jobs were signed (this agent may be the new
		// firmware that job installed). Its URL is checked again before
		// any download.
		if err := s.Update.Job.CheckImage(); err != nil {
			return nil, fmt.Errorf("agent: state: update: %w", err)
		}
	}
	return &s, nil
}

// save writes the state atomically and 0600 (internal/secfile: a new
// file, synced, renamed over the old one).
func (s *State) save(dir string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := secfile.WriteFile(filepath.Join(dir, StateFile), b); err != nil {
		return fmt.Errorf("agent: state: %w", err)
	}
	return nil
}
