package psa

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
)

// PS is a client of the Protected Storage service (PSA PS 1.0): ITS's
// calls, with confidentiality, integrity and replay protection applied by the
// SPE unless the object's flags turn them off.
type PS struct{ c storageClient }

// NewPS returns a PS client over t. Closing it closes t.
func NewPS(t ipc.Transport) *PS {
	return &PS{storageClient{service{t: t, sid: PSSID, version: PSVersion, name: "ps"}}}
}

// Set is psa_ps_set.
func (c *PS) Set(uid StorageUID, data []byte, flags StorageFlags) error {
	return c.c.set(uid, data, flags)
}

// Get is psa_ps_get.
func (c *PS) Get(uid StorageUID, offset uint32, size int) ([]byte, error) {
	return c.c.get(uid, offset, size)
}

// GetInfo is psa_ps_get_info.
func (c *PS) GetInfo(uid StorageUID) (StorageInfo, error) { return c.c.info(uid) }

// Remove is psa_ps_remove.
func (c *PS) Remove(uid StorageUID) error { return c.c.remove(uid) }

// GetSupport is psa_ps_get_support: the optional calls the service has
// (Rampart implements none of create and set_extended, so it returns 0).
func (c *PS) GetSupport() (uint32, error) {
	out, err := c.c.s.call("get_support", int32(StorageOpGetSupport), nil, 4)
	if err != nil {
		return 0, err
	}
	if len(out[0]) != 4 {
		return 0, fmt.Errorf("psa: ps get_support: %d bytes: %w", len(out[0]), ErrCommunicationFailure)
	}
	return binary.LittleEndian.Uint32(out[0]), nil
}

// Close closes the transport.
func (c *PS) Close() error { return c.c.s.close() }
