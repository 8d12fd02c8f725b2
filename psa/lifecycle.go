package psa

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
)

// LifecycleSID and LifecycleVersion identify Rampart's lifecycle service
// (a vendor SID: the PSA APIs read the lifecycle through attestation only).
const (
	LifecycleSID     = 0x0000f101
	LifecycleVersion = 1
)

// LifecycleOp is a call type of the lifecycle service:
//
//	get: out0 = u16 state
//	set: in0 = u16 state (admin clients only)
type LifecycleOp int32

// Lifecycle operations.
const (
	LifecycleOpGet LifecycleOp = 1
	LifecycleOpSet LifecycleOp = 2
)

// Lifecycle is a client of the lifecycle service.
type Lifecycle struct{ s service }

// NewLifecycle returns a lifecycle client over t. Closing it closes t.
func NewLifecycle(t ipc.Transport) *Lifecycle {
	return &Lifecycle{service{t: t, sid: LifecycleSID, version: LifecycleVersion, name: "lifecycle"}}
}

// Get returns the PSA security lifecycle state (major state in bits 15..8).
func (c *Lifecycle) Get() (uint16, error) {
	out, err := c.s.call("get", int32(LifecycleOpGet), nil, 2)
	if err != nil {
		return 0, err
	}
	if len(out[0]) != 2 {
		return 0, fmt.Errorf("psa: lifecycle get: %d bytes: %w", len(out[0]), ErrCommunicationFailure)
	}
	return binary.LittleEndian.Uint16(out[0]), nil
}

// Set requests a transition; the SPE refuses one the PSA model does not
// allow (NOT_PERMITTED) and callers it does not trust.
func (c *Lifecycle) Set(state uint16) error {
	_, err := c.s.call("set", int32(LifecycleOpSet), [][]byte{binary.LittleEndian.AppendUint16(nil, state)})
	return err
}

// Close closes the transport.
func (c *Lifecycle) Close() error { return c.s.close() }
