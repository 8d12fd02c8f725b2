package agent

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"

	"rampart/image"
)

// MaxJobSize bounds a job message.
const MaxJobSize = 4 << 10

// MaxImageSize bounds a downloaded image.
const MaxImageSize = 64 << 20

// JobsTopic is where a device receives firmware-update jobs (retained,
// QoS 1): devices/<id>/jobs. StatusTopic is where it reports outcomes.
func JobsTopic(deviceID string) string   { return "devices/" + deviceID + "/jobs" }
func StatusTopic(deviceID string) string { return "devices/" + deviceID + "/updates" }

// Job is a firmware-update job (docs/agent.md).
type Job struct {
	ID      string `json:"id"`      // unique per job; a job already done is ignored
	Version string `json:"version"` // the image's version, e.g. 2.0.0
	URL     string `json:"url"`     // https URL of the signed image
	Size    int64  `json:"size"`    // bytes
	SHA256  string `json:"sha256"`  // hex digest of the whole image file
}

// ParseJob decodes and validates a job message.
func ParseJob(b []byte) (Job, error) {
	var j Job
	if len(b) > MaxJobSize {
		return j, fmt.Errorf("agent: job: %d bytes, more than %d", len(b), MaxJobSize)
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("agent: job: %w", err)
	}
	return j, j.Validate()
}

// Validate checks every field of a job.
func (j Job) Validate() error {
	if j.ID == "" || len(j.ID) > 128 {
		return fmt.Errorf("agent: job: id: empty or longer than 128 bytes")
	}
	if _, err := image.ParseVersion(j.Version); err != nil {
		return fmt.Errorf("agent: job: version: %w", err)
	}
	u, err := url.Parse(j.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("agent: job: url: %q is not an http(s) URL", j.URL)
	}
	if j.Size <= 0 || j.Size > MaxImageSize {
		return fmt.Errorf("agent: job: size: %d is outside 1..%d", j.Size, MaxImageSize)
	}
	if d, err := hex.DecodeString(j.SHA256); err != nil || len(d) != 32 {
		return fmt.Errorf("agent: job: sha256: not 64 hex digits")
	}
	return nil
}

// Marshal encodes the job message.
func (j Job) Marshal() ([]byte, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(j)
}
