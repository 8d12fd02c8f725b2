package deviceproto

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// A transfer message tells a device that its fleet released it to a new
// owner (docs/ownership-and-rotation.md). It travels like a job, retained
// on the device's jobs topic, in the same envelope signed by the same job
// signer (jobsig.go), with its own content type so that no agent can take
// one for the other:
//
//	protected:   {1 (alg): -7 ES256 | -35 ES384,
//	              3 (content type): "application/rampart-transfer+json",
//	              33 (x5chain): bstr, the job signer's certificate}
//	payload:     the transfer's JSON (Transfer)
//
// The device checks the envelope as it checks a job (the signer chains to
// the CA that issued its certificate and carries the job signer's role),
// then the voucher and the ticket (package ownership): its current fleet
// can tell it to leave, but only the owner the voucher proves can tell it
// where to go.

// TransferContentType is the protected content type of a transfer message.
const TransferContentType = "application/rampart-transfer+json"

// MaxTransferSize bounds a transfer message (a voucher of a few hops, a
// ticket with the new fleet's CA certificates, the signer's certificate).
const MaxTransferSize = 24 << 10

// maxTransferPayload bounds the transfer's JSON inside the envelope.
const maxTransferPayload = 20 << 10

// ErrTransfer: a transfer message's payload is not valid.
var ErrTransfer = errors.New("deviceproto: transfer: not a valid transfer")

// Transfer is the payload of a transfer message.
type Transfer struct {
	ID     string `json:"id"`     // unique per transfer; the outcome names it
	Device string `json:"device"` // the device ID (its certificate's common name)
	// Nonce is the releasing fleet's challenge for the attestation token
	// of the device's acknowledgement (the outcome it publishes before it
	// leaves): 32 bytes.
	Nonce   []byte `json:"nonce"`
	Issued  int64  `json:"issued"`  // Unix ms, the fleet's signing time
	Expires int64  `json:"expires"` // Unix ms
	// Voucher is the device's voucher, extended to the new owner
	// (package ownership).
	Voucher []byte `json:"voucher"`
	// Ticket is the new owner's onboarding ticket, signed with the key
	// the voucher ends at.
	Ticket []byte `json:"ticket"`
}

// Validate checks a transfer's fields on their own.
func (t Transfer) Validate() error {
	switch {
	case t.ID == "" || len(t.ID) > 128 || !printable(t.ID):
		return fmt.Errorf("%w: id: empty, longer than 128 bytes or not printable", ErrTransfer)
	case t.Device == "" || len(t.Device) > 128 || !printable(t.Device):
		return fmt.Errorf("%w: device: empty, longer than 128 bytes or not printable", ErrTransfer)
	case len(t.Nonce) != 32:
		return fmt.Errorf("%w: nonce: %d bytes, want 32", ErrTransfer, len(t.Nonce))
	case t.Issued <= 0 || t.Expires <= t.Issued:
		return fmt.Errorf("%w: issued %d, expires %d", ErrTransfer, t.Issued, t.Expires)
	case len(t.Voucher) == 0 || len(t.Ticket) == 0:
		return fmt.Errorf("%w: voucher or ticket missing", ErrTransfer)
	}
	return nil
}

// SignTransfer binds t to deviceID (Device, Issued, Expires; a random Nonce
// when t has none) and signs it as a transfer message.
func (s *JobSigner) SignTransfer(deviceID string, t Transfer) ([]byte, Transfer, error) {
	r, err := s.ready()
	if err != nil {
		return nil, t, err
	}
	if len(t.Nonce) == 0 {
		t.Nonce = make([]byte, 32)
		if _, err := io.ReadFull(r, t.Nonce); err != nil {
			return nil, t, fmt.Errorf("deviceproto: transfer: nonce: %w", err)
		}
	}
	t.Device = deviceID
	t.Issued, t.Expires = s.stamp()
	if err := t.Validate(); err != nil {
		return nil, t, err
	}
	payload, err := json.Marshal(t)
	if err != nil {
		return nil, t, err
	}
	out, err := s.seal(TransferContentType, payload, MaxTransferSize)
	if err != nil {
		return nil, t, fmt.Errorf("%w: %w", ErrTransfer, err)
	}
	return out, t, nil
}

// IsTransfer reports whether a message on the jobs topic is a transfer
// message (by its protected content type; nothing is verified).
func IsTransfer(b []byte) bool { return hasContentType(b, TransferContentType, MaxTransferSize) }

// VerifyTransfer decodes a transfer message and checks it against p as a
// job is checked: the signer's certificate, role and chain to the CA that
// issued the device's certificate, the signature, the device and the
// expiry. Replay (a transfer issued before the last job taken) is the
// device's check, and the voucher and ticket are package ownership's.
func VerifyTransfer(b []byte, p JobPolicy) (Transfer, error) {
	var t Transfer
	e, err := openEnvelope(b, TransferContentType, MaxTransferSize)
	if err != nil {
		return t, err
	}
	if err := decodePayload(e.msg.Payload, maxTransferPayload, &t, ErrTransfer); err != nil {
		return t, err
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	if err := e.verify(p); err != nil {
		return t, err
	}
	if t.Device != p.Device.Subject.CommonName {
		return t, fmt.Errorf("%w: transfer %s is for %q, this device is %q", ErrJobDevice, t.ID, t.Device, p.Device.Subject.CommonName)
	}
	if p.Now.UnixMilli() > t.Expires {
		return t, fmt.Errorf("%w: transfer %s expired", ErrJobExpired, t.ID)
	}
	return t, nil
}
