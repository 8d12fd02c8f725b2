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
// (PSA_STORAGE_SUPPORT_SET_EXTENDED: create and set_extended).
func (c *PS) GetSupport() (uint32, error) {
	out, err := c.c.s.call("get_support", int32(psa.StorageOpGetSupport), nil, 4)
	if err != nil {
		return 0, err
	}
	return parse(&c.c.s, "get_support", out[0], psa.ParseUint32)
}

// Close closes the transport.
func (c *PS) Close() error { return c.c.s.close() }

// Create is psa_ps_create: an empty object that SetExtended fills up to
// capacity bytes.
func (c *PS) Create(uid psa.StorageUID, capacity uint32, flags psa.StorageFlags) error {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpCreate, psa.StorageHeader{UID: uid, Capacity: capacity, Flags: flags})
	_, err := c.c.s.call("create", int32(psa.StorageOpCreate), [][]byte{hdr})
	return err
}

// SetExtended is psa_ps_set_extended: data written at offset (at most the
// object's size) within the capacity Create reserved.
func (c *PS) SetExtended(uid psa.StorageUID, offset uint32, data []byte) error {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpSetExtended, psa.StorageHeader{UID: uid, Offset: offset})
	_, err := c.c.s.call("set_extended", int32(psa.StorageOpSetExtended), [][]byte{hdr, data})
	return err
}
