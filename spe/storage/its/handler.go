package its

import (
	"errors"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// Manifest declares the ITS partition: one stateless service at TF-M's SID.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_ITS",
	Type:             spe.PSARoT,
	Services: []spe.ServiceManifest{{
		Name: "ITS", SID: psa.ITSSID, Version: psa.ITSVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Register adds the ITS partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"ITS": s})
}

// Status maps an error of this package (or of ps) to the PSA status to
// return: the ipc.Status it wraps, or STORAGE_FAILURE.
func Status(err error) ipc.Status {
	if err == nil {
		return ipc.Success
	}
	var st ipc.Status
	if errors.As(err, &st) {
		return st
	}
	return ipc.ErrStorageFailure
}

// Backend is the per-client interface shared by ITS and PS, so that both
// decode requests with the same code (Decode, Serve).
type Backend interface {
	Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error
	Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error)
	GetInfo(client int32, uid psa.StorageUID) (psa.StorageInfo, error)
	Remove(client int32, uid psa.StorageUID) error
}

// Request is a decoded storage call.
type Request struct {
	Op     psa.StorageOp
	UID    psa.StorageUID
	Flags  psa.StorageFlags
	Offset uint32
	Data   []byte
}

// storageVectors is how many input and output vectors each call has.
var storageVectors = map[psa.StorageOp][2]int{
	psa.StorageOpSet:     {2, 0},
	psa.StorageOpGet:     {1, 1},
	psa.StorageOpGetInfo: {1, 1},
	psa.StorageOpRemove:  {1, 0},
}

// Decode checks a storage call's vectors against the layout of its type
// (psa.StorageOp), decoding the header with the client's codec
// (psa.ParseStorageHeader). It never reads past a vector.
func Decode(m *spe.Message) (*Request, ipc.Status) {
	op := psa.StorageOp(m.Type)
	n, ok := storageVectors[op]
	if !ok {
		return nil, ipc.ErrNotSupported
	}
	h, err := psa.ParseStorageHeader(op, m.InVec(0))
	if err != nil || m.NumIn() != n[0] || len(m.OutSize) != n[1] {
		return nil, ipc.ErrProgrammerError
	}
	r := &Request{Op: op, UID: h.UID, Flags: h.Flags, Offset: h.Offset}
	if op == psa.StorageOpSet {
		r.Data = m.InVec(1)
	}
	return r, ipc.Success
}

// Serve runs a decoded call on b for m's client and writes its outputs.
func Serve(b Backend, m *spe.Message, r *Request) ipc.Status {
	switch r.Op {
	case psa.StorageOpSet:
		return Status(b.Set(m.Client, r.UID, r.Data, r.Flags))
	case psa.StorageOpGet:
		d, err := b.Get(m.Client, r.UID, r.Offset, int(m.OutSize[0]))
		if err != nil {
			return Status(err)
		}
		return m.Write(0, d)
	case psa.StorageOpGetInfo:
		info, err := b.GetInfo(m.Client, r.UID)
		if err != nil {
			return Status(err)
		}
		return m.Write(0, psa.AppendStorageInfo(nil, info))
	case psa.StorageOpRemove:
		return Status(b.Remove(m.Client, r.UID))
	}
	return ipc.ErrNotSupported
}

// Call dispatches one ITS call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	if psa.StorageOp(m.Type) == psa.StorageOpUIDs {
		return s.listOwn(m)
	}
	r, st := Decode(m)
	if st != ipc.Success {
		return st
	}
	return Serve(s, m, r)
}

// listOwn answers StorageOpUIDs: a secure partition's own uids.
func (s *Service) listOwn(m *spe.Message) ipc.Status {
	if m.Client <= 0 {
		return ipc.ErrNotSupported // a namespace is never listed to a non-secure client
	}
	if m.NumIn() != 0 || len(m.OutSize) != 1 {
		return ipc.ErrProgrammerError
	}
	uids, err := s.UIDs(m.Client)
	if err != nil {
		return Status(err)
	}
	b := encodeUIDs(uids)
	if len(b) > int(m.OutSize[0]) {
		return ipc.ErrBufferTooSmall
	}
	return m.Write(0, b)
}
