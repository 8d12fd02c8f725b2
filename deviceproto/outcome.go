package deviceproto

import (
	"encoding/json"
	"fmt"
)

// Outcome is how a job ended: the message a device publishes, retained, on
// its StatusTopic (docs/agent.md, "Outcome"). It is the device's claim; the
// fleet counts an update as done only when Token, a fresh attestation over
// the job's Nonce, proves it.
type Outcome struct {
	JobID string `json:"job"`
	// OK is Result == ResultOK, kept for servers older than Result.
	OK bool `json:"ok"`
	// Result is how the job ended: ok, failed or reverted. Agents older
	// than the field sent only OK (ParseOutcome maps it).
	Result  Result `json:"result,omitempty"`
	Version string `json:"version"` // running after the job
	// Error says why the job failed, for people: it is never parsed (the
	// result is in Result).
	Error string `json:"error,omitempty"`
	// Token is the fresh attestation (base64 in JSON) taken after the
	// job, over the job's nonce (the fleet's challenge).
	Token []byte `json:"token,omitempty"`
}

// Result is how a job ended.
type Result string

// Results of a job (docs/agent.md, "Outcome").
const (
	// ResultOK: the new image runs, passed the attested confirmation
	// (re-enrollment by attestation and the self-test) and was kept.
	ResultOK Result = "ok"
	// ResultFailed: the job ended without the new image: refused before
	// it ran (download, digest, the SPE's verification, a downgrade), or
	// an image installed for good (overwrite-only) failed its
	// confirmation.
	ResultFailed Result = "failed"
	// ResultReverted: the new image ran in its trial and the bootloader
	// went back to the old one (the self-test or the re-attestation
	// failed, or the trial was cut short).
	ResultReverted Result = "reverted"
)

// MaxOutcomeSize bounds an outcome message (the token is at most 16 KiB).
const MaxOutcomeSize = 32 << 10

// ParseOutcome decodes an outcome message. A message from an agent older
// than the result field carries only ok: it is read as ok or failed. A
// result that contradicts ok, or an unknown one, is refused.
func ParseOutcome(b []byte) (Outcome, error) {
	var o Outcome
	if len(b) > MaxOutcomeSize {
		return o, fmt.Errorf("deviceproto: outcome: %d bytes, more than %d", len(b), MaxOutcomeSize)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("deviceproto: outcome: %w", err)
	}
	if o.JobID == "" || len(o.JobID) > 128 {
		return o, fmt.Errorf("deviceproto: outcome: job: empty or longer than 128 bytes")
	}
	switch o.Result {
	case "":
		o.Result = ResultFailed
		if o.OK {
			o.Result = ResultOK
		}
	case ResultOK, ResultFailed, ResultReverted:
		if o.OK != (o.Result == ResultOK) {
			return o, fmt.Errorf("deviceproto: outcome: result %q with ok %v", o.Result, o.OK)
		}
	default:
		return o, fmt.Errorf("deviceproto: outcome: result %q is not ok, failed or reverted", o.Result)
	}
	return o, nil
}
