package deviceproto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"unicode"

	"rampart/image"
)

// MaxJobSize bounds a job message: the signed envelope with its signer's
// certificate (docs/agent.md).
const MaxJobSize = 8 << 10

// maxJobPayload bounds the job's JSON inside the envelope.
const maxJobPayload = 4 << 10

// MaxImageSize bounds a firmware image: what a job may announce and a
// device downloads, and so what the fleet accepts as a release.
const MaxImageSize = 64 << 20

// Job is a firmware-update job (docs/agent.md): the payload of the signed
// job message (jobsig.go). Device, Nonce, Issued and Expires are set by the
// fleet's JobSigner; a job a device takes has had all of them checked
// (VerifyJob).
type Job struct {
	ID      string `json:"id"`      // unique per job; a job already done is ignored
	Version string `json:"version"` // the image's version, e.g. 2.0.0
	URL     string `json:"url"`     // https URL of the signed image
	Size    int64  `json:"size"`    // bytes
	SHA256  string `json:"sha256"`  // hex digest of the whole image file
	// Device is the device ID the job is for (the common name of the
	// device's certificate, which the CA derived from its attested
	// instance ID); any other device refuses the job.
	Device string `json:"device,omitempty"`
	// Nonce is the fleet's challenge for the attestation token of the
	// job's outcome (32, 48 or 64 bytes; base64 in JSON).
	Nonce []byte `json:"nonce,omitempty"`
	// Issued is when the fleet signed the job (Unix ms). It increases
	// strictly from one job of a device to the next: the agent refuses a
	// job issued before the last one it took (a replay).
	Issued int64 `json:"issued,omitempty"`
	// Expires is when the job lapses (Unix ms, the device's clock).
	Expires int64 `json:"expires,omitempty"`
}

// Equal reports whether two jobs are the same in every field.
func (j Job) Equal(k Job) bool {
	return j.ID == k.ID && j.Version == k.Version && j.URL == k.URL && j.Size == k.Size && j.SHA256 == k.SHA256 &&
		j.Device == k.Device && bytes.Equal(j.Nonce, k.Nonce) && j.Issued == k.Issued && j.Expires == k.Expires
}

// parseJobPayload decodes a job's JSON strictly (no unknown member, no
// trailing data) and validates it.
func parseJobPayload(b []byte) (Job, error) {
	var j Job
	if err := decodePayload(b, maxJobPayload, &j, errJobPayload); err != nil {
		return j, err
	}
	return j, j.Validate()
}

// errJobPayload: a job's JSON is not valid.
var errJobPayload = errors.New("deviceproto: job")

// Validate checks every field of a job the fleet signs: the image's
// fields (CheckImage), an https URL, and the fields that bind it to a
// device and a time.
func (j Job) Validate() error {
	if err := j.CheckImage(); err != nil {
		return err
	}
	if err := CheckHTTPS(j.URL); err != nil {
		return err
	}
	if j.Device == "" || len(j.Device) > 128 || !printable(j.Device) {
		return errors.New("deviceproto: job: device: empty, longer than 128 bytes or not printable")
	}
	if n := len(j.Nonce); n != 32 && n != 48 && n != 64 {
		return fmt.Errorf("deviceproto: job: nonce: %d bytes, want 32, 48 or 64", n)
	}
	if j.Issued <= 0 || j.Expires <= j.Issued {
		return fmt.Errorf("deviceproto: job: issued %d, expires %d: want 0 < issued < expires", j.Issued, j.Expires)
	}
	return nil
}

// CheckImage checks what describes the image: id, version, URL syntax,
// size, digest. It is all a job persisted by an older agent (before jobs
// were signed) is held to when the agent loads its state; such a job's URL
// is checked again before each download (CheckHTTPS).
func (j Job) CheckImage() error {
	if j.ID == "" || len(j.ID) > 128 {
		return fmt.Errorf("deviceproto: job: id: empty or longer than 128 bytes")
	}
	if _, err := image.ParseVersion(j.Version); err != nil {
		return fmt.Errorf("deviceproto: job: version: %w", err)
	}
	u, err := url.Parse(j.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("deviceproto: job: url: %q is not an http(s) URL", j.URL)
	}
	if j.Size <= 0 || j.Size > MaxImageSize {
		return fmt.Errorf("deviceproto: job: size: %d is outside 1..%d", j.Size, MaxImageSize)
	}
	if d, err := hex.DecodeString(j.SHA256); err != nil || len(d) != 32 {
		return fmt.Errorf("deviceproto: job: sha256: not 64 hex digits")
	}
	return nil
}

// CheckHTTPS refuses a URL that is not https with a host and no user
// information: images come only over TLS from the fleet. The endpoint
// itself is checked against the job's signer (SignedJob.Verify).
func CheckHTTPS(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return fmt.Errorf("%w: %q is not an https URL with a host", ErrJobURL, raw)
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == unicode.ReplacementChar {
			return false
		}
	}
	return true
}

// marshalPayload encodes the job's JSON after validating it.
func (j Job) marshalPayload() ([]byte, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(j)
}
