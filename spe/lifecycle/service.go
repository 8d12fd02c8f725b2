package lifecycle

import (
	"errors"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
)

// Manifest declares the lifecycle partition.
var Manifest = spe.PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SP_LIFECYCLE",
	Type:             spe.PSARoT,
	// Decommissioning asks the partition manager to end every other PRoT
	// process (isolation level 3); every transition is written to the
	// audit log.
	Dependencies: []uint32{spe.RetireSID, psa.AuditSID},
	Services: []spe.ServiceManifest{{
		Name: "LIFECYCLE", SID: psa.LifecycleSID, Version: psa.LifecycleVersion, VersionPolicy: spe.Strict,
		Stateless: true, NonSecureClients: true,
	}},
}

// Service exposes a Manager to clients: every client may read the state;
// only the clients in Admins (and secure partitions) may request a transition.
type Service struct {
	M      *Manager
	Admins []int32
}

// Register adds the lifecycle partition to srv.
func (s *Service) Register(srv *spe.Server) error {
	return srv.Register(Manifest, map[string]spe.Handler{"LIFECYCLE": s})
}

func (s *Service) admin(c int32) bool {
	if c > 0 {
		return true
	}
	for _, a := range s.Admins {
		if a == c {
			return true
		}
	}
	return false
}

// Call dispatches one lifecycle call.
func (s *Service) Call(m *spe.Message) ipc.Status {
	switch psa.LifecycleOp(m.Type) {
	case psa.LifecycleOpGet:
		if m.NumIn() != 0 || len(m.OutSize) != 1 {
			return ipc.ErrProgrammerError
		}
		return m.Write(0, psa.AppendUint16(nil, uint16(s.M.State())))
	case psa.LifecycleOpSet:
		state, err := psa.ParseUint16(m.InVec(0))
		if err != nil || m.NumIn() != 1 || len(m.OutSize) != 0 {
			return ipc.ErrProgrammerError
		}
		if !s.admin(m.Client) {
			return ipc.ErrNotPermitted
		}
		err = s.M.Transition(State(state))
		var st ipc.Status
		switch {
		case err == nil:
			return ipc.Success
		case errors.Is(err, ErrTransition):
			return ipc.ErrNotPermitted
		case errors.As(err, &st):
			return st
		}
		return ipc.ErrGenericError
	}
	return ipc.ErrNotSupported
}
