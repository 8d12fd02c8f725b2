package psa

import (
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"rampart/ipc"
)

// AuditSID and AuditVersion identify Rampart's audit log service (a vendor
// SID: TF-M's audit partition was removed in v1.7.0).
const (
	AuditSID     = 0x0000f102
	AuditVersion = 1
)

// AuditOp is a call type of the audit service:
//
//	append:     in0 = event (1..255 bytes); in1 = data (secure clients only)
//	read:       in0 = u64 offset; out0 = bytes of the log store from offset (readers only)
//	size:       out0 = u64 size of the log store (readers only)
//	public_key: out0 = PKIX DER of the checkpoint key
//	checkpoint: sign the current head now (readers only)
type AuditOp int32

// Audit operations.
const (
	AuditOpAppend     AuditOp = 1
	AuditOpRead       AuditOp = 2
	AuditOpSize       AuditOp = 3
	AuditOpPublicKey  AuditOp = 4
	AuditOpCheckpoint AuditOp = 5
)

// auditChunk is how much of the log one read call asks for.
const auditChunk = 64 << 10

// Audit is a client of the audit log service.
type Audit struct{ s service }

// NewAudit returns an audit client over t. Closing it closes t.
func NewAudit(t ipc.Transport) *Audit {
	return &Audit{service{t: t, sid: AuditSID, version: AuditVersion, name: "audit"}}
}

// Append adds a record; the SPE refuses non-secure callers.
func (c *Audit) Append(event string, data []byte) error {
	_, err := c.s.call("append", int32(AuditOpAppend), [][]byte{[]byte(event), data})
	return err
}

// Checkpoint asks the SPE to sign the current head.
func (c *Audit) Checkpoint() error {
	_, err := c.s.call("checkpoint", int32(AuditOpCheckpoint), nil)
	return err
}

// ReadAll retrieves the whole log store, to check with audit.Verify and the
// PublicKey. max bounds what the caller accepts.
func (c *Audit) ReadAll(max int64) ([]byte, error) {
	out, err := c.s.call("size", int32(AuditOpSize), nil, 8)
	if err != nil {
		return nil, err
	}
	if len(out[0]) != 8 {
		return nil, fmt.Errorf("psa: audit size: %d bytes: %w", len(out[0]), ErrCommunicationFailure)
	}
	size := int64(binary.LittleEndian.Uint64(out[0]))
	if size < 0 || size > max {
		return nil, fmt.Errorf("psa: audit log of %d bytes is over the %d-byte limit: %w", size, max, ErrInsufficientMemory)
	}
	buf := make([]byte, 0, size)
	for int64(len(buf)) < size {
		out, err := c.s.call("read", int32(AuditOpRead), [][]byte{binary.LittleEndian.AppendUint64(nil, uint64(len(buf)))}, auditChunk)
		if err != nil {
			return nil, err
		}
		if len(out[0]) == 0 {
			break
		}
		buf = append(buf, out[0]...)
	}
	if int64(len(buf)) > size {
		buf = buf[:size]
	}
	return buf, nil
}

// PublicKey returns the key that signs the log's checkpoints.
func (c *Audit) PublicKey() (crypto.PublicKey, error) {
	out, err := c.s.call("public_key", int32(AuditOpPublicKey), nil, 1024)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(out[0])
	if err != nil {
		return nil, fmt.Errorf("psa: audit public key: %w", err)
	}
	return k, nil
}

// Close closes the transport.
func (c *Audit) Close() error { return c.s.close() }
