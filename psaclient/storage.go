package psaclient

import (
	"rampart/ipc"
	"rampart/psa"
)

// storageClient is the shared client of ITS and PS.
type storageClient struct{ s service }

func (c *storageClient) set(uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpSet, psa.StorageHeader{UID: uid, Flags: flags})
	_, err := c.s.call("set", int32(psa.StorageOpSet), [][]byte{hdr, data})
	return err
}

func (c *storageClient) get(uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGet, psa.StorageHeader{UID: uid, Offset: offset})
	out, err := c.s.call("get", int32(psa.StorageOpGet), [][]byte{hdr}, size)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

func (c *storageClient) info(uid psa.StorageUID) (psa.StorageInfo, error) {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpGetInfo, psa.StorageHeader{UID: uid})
	out, err := c.s.call("get_info", int32(psa.StorageOpGetInfo), [][]byte{hdr}, psa.StorageInfoSize)
	if err != nil {
		return psa.StorageInfo{}, err
	}
	return parse(&c.s, "get_info", out[0], psa.ParseStorageInfo)
}

func (c *storageClient) remove(uid psa.StorageUID) error {
	hdr := psa.AppendStorageHeader(nil, psa.StorageOpRemove, psa.StorageHeader{UID: uid})
	_, err := c.s.call("remove", int32(psa.StorageOpRemove), [][]byte{hdr})
	return err
}

// ITS is a client of the Internal Trusted Storage service (PSA ITS 1.0).
// Objects are per client: the SPE keys them by the caller's kernel-derived
// client ID and the uid.
type ITS struct{ c storageClient }

// NewITS returns an ITS client over t. Closing it closes t.
func NewITS(t ipc.Transport) *ITS {
	return &ITS{storageClient{service{t: t, sid: psa.ITSSID, version: psa.ITSVersion, name: "its"}}}
}

// Set is psa_its_set: create or replace uid with data.
func (c *ITS) Set(uid psa.StorageUID, data []byte, flags psa.StorageFlags) error {
	return c.c.set(uid, data, flags)
}

// Get is psa_its_get: up to size bytes of uid from offset.
func (c *ITS) Get(uid psa.StorageUID, offset uint32, size int) ([]byte, error) {
	return c.c.get(uid, offset, size)
}

// GetInfo is psa_its_get_info.
func (c *ITS) GetInfo(uid psa.StorageUID) (psa.StorageInfo, error) { return c.c.info(uid) }

// Remove is psa_its_remove.
func (c *ITS) Remove(uid psa.StorageUID) error { return c.c.remove(uid) }

// Close closes the transport.
func (c *ITS) Close() error { return c.c.s.close() }
