package fwu

import (
	"encoding/binary"
	"errors"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// Manifest declares the FWU partition.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_FWU",
	Type:             spe.PSARoT,
	Services: []spe.ServiceManifest{{
		Name: "FWU", SID: psa.FWUSID, Version: psa.FWUVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Register adds the FWU partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"FWU": s})
}

// Request is a decoded FWU call.
type Request struct {
	Op        psa.FWUOp
	Component psa.FWUComponent
	Offset    uint32
	Block     []byte
	Error     int32
}

// Decode checks a FWU call's vectors against its layout.
func Decode(m *spe.Message) (*Request, ipc.Status) {
	r := &Request{Op: psa.FWUOp(m.Type)}
	in0 := m.InVec(0)
	outs := 0
	switch r.Op {
	case psa.FWUOpQuery:
		outs = 1
		fallthrough
	case psa.FWUOpFinish, psa.FWUOpCancel, psa.FWUOpClean:
		if m.NumIn() != 1 || len(in0) != 1 {
			return nil, ipc.ErrProgrammerError
		}
		r.Component = psa.FWUComponent(in0[0])
	case psa.FWUOpStart:
		if m.NumIn() != 2 || len(in0) != 1 {
			return nil, ipc.ErrProgrammerError
		}
		if len(m.InVec(1)) != 0 {
			return nil, ipc.ErrNotSupported // no detached manifests
		}
		r.Component = psa.FWUComponent(in0[0])
	case psa.FWUOpWrite:
		if m.NumIn() != 2 || len(in0) != 5 {
			return nil, ipc.ErrProgrammerError
		}
		r.Component = psa.FWUComponent(in0[0])
		r.Offset = binary.LittleEndian.Uint32(in0[1:])
		r.Block = m.InVec(1)
	case psa.FWUOpInstall, psa.FWUOpRequestReboot, psa.FWUOpAccept:
		if m.NumIn() != 0 {
			return nil, ipc.ErrProgrammerError
		}
	case psa.FWUOpReject:
		if m.NumIn() != 1 || len(in0) != 4 {
			return nil, ipc.ErrProgrammerError
		}
		r.Error = int32(binary.LittleEndian.Uint32(in0))
	default:
		return nil, ipc.ErrNotSupported
	}
	if len(m.OutSize) != outs {
		return nil, ipc.ErrProgrammerError
	}
	return r, ipc.Success
}

func status(err error) ipc.Status {
	if err == nil {
		return ipc.Success
	}
	var st ipc.Status
	if errors.As(err, &st) {
		return st
	}
	return ipc.ErrGenericError
}

// Call dispatches one FWU call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	if s.down.Load() {
		return ipc.ErrBadState
	}
	r, st := Decode(m)
	if st != ipc.Success {
		return st
	}
	switch r.Op {
	case psa.FWUOpQuery:
		info, err := s.Query(r.Component)
		if err != nil {
			return status(err)
		}
		return m.Write(0, psa.AppendFWUComponentInfo(nil, info))
	case psa.FWUOpStart:
		return status(s.Start(r.Component))
	case psa.FWUOpWrite:
		return status(s.Write(r.Component, r.Offset, r.Block))
	case psa.FWUOpFinish:
		return status(s.Finish(r.Component))
	case psa.FWUOpCancel:
		return status(s.Cancel(r.Component))
	case psa.FWUOpClean:
		return status(s.Clean(r.Component))
	case psa.FWUOpInstall:
		return status(s.Install())
	case psa.FWUOpRequestReboot:
		_, err := s.RequestReboot()
		return status(err)
	case psa.FWUOpAccept:
		return status(s.Accept())
	case psa.FWUOpReject:
		return status(s.Reject(r.Error))
	}
	return ipc.ErrNotSupported
}
