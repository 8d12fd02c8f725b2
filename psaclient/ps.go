package psaclient

import (
	"rampart/ipc"
	"rampart/psa"
)

// PS is a client of the Protected Storage service (PSA PS 1.0): ITS's
// calls, with confidentiality, integrity and replay protection applied by the
// SPE unless the object's flags turn them off.
type PS struct{ c storageClient }

// NewPS returns a PS client over t. Closing it closes t.
func NewPS(t ipc.Transport) *PS {
	return &PS{storageClient{service{t: t, sid: psa.PSSID, version: psa.PSVersion, name: "ps"}}}
}

// Set is psa_ps_set.
func (c *PS) Set(uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	return c.c.set(uid, data, flags)
}

// Get is psa_ps_get.
func (c *PS) Get(uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	return c.c.get(uid, offset, size)
}

// GetInfo is psa_ps_get_info.
func (c *PS) GetInfo(uid psa.StorageUID) (psa.StorageInfo, error) { return c.c.info(uid) }

// Remove is psa_ps_remove.
func (c *PS) Remove(uid psa.StorageUID) error { return c.c.remove(uid) }

// GetSupport is psa_ps_get_support: the optional calls the service has
// (Rampart implements none of create and set_extended, so it returns 0).
func (c *PS) GetSupport() (uint32, error) {
	out, err := c.c.s.call("get_support", int32(psa.StorageOpGetSupport), nil, 4)
	if err != nil {
		return 0, err
	}
	return parse(&c.c.s, "get_support", out[0], psa.ParseUint32)
}

// Close closes the transport.
func (c *PS) Close() error { return c.c.s.close() }
