package its

import (
	"encoding/binary"
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

// Decode checks a storage call's vectors against the layout of its type
// (psa.StorageOp). It never reads past a vector.
func Decode(m *spe.Message) (*Request, ipc.Status) {
	r := &Request{Op: psa.StorageOp(m.Type)}
	in0 := m.InVec(0)
	switch r.Op {
	case psa.StorageOpSet:
		if m.NumIn() != 2 || len(in0) != 12 || len(m.OutSize) != 0 {
			return nil, ipc.ErrProgrammerError
		}
		r.UID = psa.StorageUID(binary.LittleEndian.Uint64(in0))
		r.Flags = psa.StorageFlags(binary.LittleEndian.Uint32(in0[8:]))
		r.Data = m.InVec(1)
	case psa.StorageOpGet:
		if m.NumIn() != 1 || len(in0) != 12 || len(m.OutSize) != 1 {
			return nil, ipc.ErrProgrammerError
		}
		r.UID = psa.StorageUID(binary.LittleEndian.Uint64(in0))
		r.Offset = binary.LittleEndian.Uint32(in0[8:])
	case psa.StorageOpGetInfo:
		if m.NumIn() != 1 || len(in0) != 8 || len(m.OutSize) != 1 {
			return nil, ipc.ErrProgrammerError
		}
		r.UID = psa.StorageUID(binary.LittleEndian.Uint64(in0))
	case psa.StorageOpRemove:
		if m.NumIn() != 1 || len(in0) != 8 || len(m.OutSize) != 0 {
			return nil, ipc.ErrProgrammerError
		}
		r.UID = psa.StorageUID(binary.LittleEndian.Uint64(in0))
	default:
		return nil, ipc.ErrNotSupported
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
	r, st := Decode(m)
	if st != ipc.Success {
		return st
	}
	return Serve(s, m, r)
}
