package psaclient

import (
	"rampart/ipc"
	"rampart/psa"
)

// Lifecycle is a client of the lifecycle service.
type Lifecycle struct{ s service }

// NewLifecycle returns a lifecycle client over t. Closing it closes t.
func NewLifecycle(t ipc.Transport) *Lifecycle {
	return &Lifecycle{service{t: t, sid: psa.LifecycleSID, version: psa.LifecycleVersion, name: "lifecycle"}}
}

// Get returns the PSA security lifecycle state (major state in bits 15..8).
func (c *Lifecycle) Get() (uint16, error) {
	out, err := c.s.call("get", int32(psa.LifecycleOpGet), nil, 2)
	if err != nil {
		return 0, err
	}
	return parse(&c.s, "get", out[0], psa.ParseUint16)
}

// Set requests a transition; the SPE refuses one the PSA model does not
// allow (NOT_PERMITTED) and callers it does not trust.
func (c *Lifecycle) Set(state uint16) error {
	_, err := c.s.call("set", int32(psa.LifecycleOpSet), [][]byte{psa.AppendUint16(nil, state)})
	return err
}

// Close closes the transport.
func (c *Lifecycle) Close() error { return c.s.close() }
