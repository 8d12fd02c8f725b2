package fwu

import (
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

// fwuVectors is how many input and output vectors each call has.
var fwuVectors = map[psa.FWUOp][2]int{
	psa.FWUOpQuery: {1, 1}, psa.FWUOpStart: {2, 0}, psa.FWUOpWrite: {2, 0},
	psa.FWUOpFinish: {1, 0}, psa.FWUOpCancel: {1, 0}, psa.FWUOpClean: {1, 0},
	psa.FWUOpInstall: {0, 0}, psa.FWUOpRequestReboot: {0, 0}, psa.FWUOpAccept: {0, 0},
	psa.FWUOpReject: {1, 0},
}

// Decode checks a FWU call's vectors against its layout, decoding the header
// with the client's codec (psa.ParseFWUHeader).
func Decode(m *spe.Message) (*Request, ipc.Status) {
	r := &Request{Op: psa.FWUOp(m.Type)}
	n, ok := fwuVectors[r.Op]
	if !ok {
		return nil, ipc.ErrNotSupported
	}
	if m.NumIn() != n[0] {
		return nil, ipc.ErrProgrammerError
	}
	if n[0] > 0 {
		h, err := psa.ParseFWUHeader(r.Op, m.InVec(0))
		if err != nil {
			return nil, ipc.ErrProgrammerError
		}
		r.Component, r.Offset, r.Error = h.Component, h.Offset, h.Error
	}
	switch r.Op {
	case psa.FWUOpStart:
		if len(m.InVec(1)) != 0 {
			return nil, ipc.ErrNotSupported // no detached manifests
		}
	case psa.FWUOpWrite:
		r.Block = m.InVec(1)
	}
	if len(m.OutSize) != n[1] {
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

// failed is the status of err, its cause recorded for the SPE's log (an
// image refused at install says why there, where the caller sees only a
// status) unless it is the caller's own mistake.
func failed(m *spe.Message, err error) ipc.Status {
	st := status(err)
	if st == ipc.Success || st == ipc.ErrInvalidArgument {
		return st
	}
	return m.Fail(st, err)
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
			return failed(m, err)
		}
		return m.Write(0, psa.AppendFWUComponentInfo(nil, info))
	case psa.FWUOpStart:
		return failed(m, s.Start(r.Component))
	case psa.FWUOpWrite:
		return failed(m, s.Write(r.Component, r.Offset, r.Block))
	case psa.FWUOpFinish:
		return failed(m, s.Finish(r.Component))
	case psa.FWUOpCancel:
		return failed(m, s.Cancel(r.Component))
	case psa.FWUOpClean:
		return failed(m, s.Clean(r.Component))
	case psa.FWUOpInstall:
		return failed(m, s.Install())
	case psa.FWUOpRequestReboot:
		_, err := s.RequestReboot()
		return failed(m, err)
	case psa.FWUOpAccept:
		return failed(m, s.Accept())
	case psa.FWUOpReject:
		return failed(m, s.Reject(r.Error))
	}
	return ipc.ErrNotSupported
}
