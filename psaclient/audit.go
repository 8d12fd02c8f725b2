package psaclient

import (
	"crypto"
	"crypto/x509"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// auditChunk is how much of the log one read call asks for.
const auditChunk = 64 << 10

// Audit is a client of the audit log service.
type Audit struct{ s service }

// NewAudit returns an audit client over t. Closing it closes t.
func NewAudit(t ipc.Transport) *Audit {
	return &Audit{service{t: t, sid: psa.AuditSID, version: psa.AuditVersion, name: "audit"}}
}

// Append adds a record; the SPE refuses non-secure callers.
func (c *Audit) Append(event string, data []byte) error {
	_, err := c.s.call("append", int32(psa.AuditOpAppend), [][]byte{[]byte(event), data})
	return err
}

// Checkpoint asks the SPE to sign the current head.
func (c *Audit) Checkpoint() error {
	_, err := c.s.call("checkpoint", int32(psa.AuditOpCheckpoint), nil)
	return err
}

// ReadAll retrieves the whole log store, to check with audit.Verify and the
// PublicKey. max bounds what the caller accepts.
func (c *Audit) ReadAll(max int64) ([]byte, error) {
	out, err := c.s.call("size", int32(psa.AuditOpSize), nil, 8)
	if err != nil {
		return nil, err
	}
	n, err := parse(&c.s, "size", out[0], psa.ParseUint64)
	if err != nil {
		return nil, err
	}
	size := int64(n)
	if size < 0 || size > max {
		return nil, fmt.Errorf("psaclient: audit log of %d bytes is over the %d-byte limit: %w", size, max, psa.ErrInsufficientMemory)
	}
	buf := make([]byte, 0, size)
	for int64(len(buf)) < size {
		out, err := c.s.call("read", int32(psa.AuditOpRead), [][]byte{psa.AppendUint64(nil, uint64(len(buf)))}, auditChunk)
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
	out, err := c.s.call("public_key", int32(psa.AuditOpPublicKey), nil, 1024)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(out[0])
	if err != nil {
		return nil, fmt.Errorf("psaclient: audit public key: %w", err)
	}
	return k, nil
}

// Close closes the transport.
func (c *Audit) Close() error { return c.s.close() }
