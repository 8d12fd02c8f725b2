package spe

// Shutdowner is implemented by handlers that hold secrets or device state
// in memory (keys, key-derivation keys, open operations): Shutdown wipes
// them and makes every later call of the handler fail. Decommissioning
// calls it through Server.Retire, once per retired service, so it must be
// idempotent.
type Shutdowner interface {
	Shutdown()
}

// Retire takes the services of the named partitions out of the server for
// the rest of its life, as decommissioning requires: it waits for their
// calls in progress to finish, removes their SIDs (so version answers
// PSA_VERSION_NONE and connect and stateless calls are refused, exactly as
// after a restart that no longer starts them), answers PSA_ERROR_BAD_STATE
// to calls on handles opened before, and then calls Shutdown on every
// handler that implements Shutdowner, with no call of it running.
//
// Retire must not be called from a call of a partition it retires (it would
// wait for itself). Unknown names are ignored.
func (s *Server) Retire(partitions ...string) {
	want := map[string]bool{}
	for _, p := range partitions {
		want[p] = true
	}
	s.mu.Lock()
	var gone []*service
	for sid, svc := range s.services {
		if want[svc.partition] {
			gone = append(gone, svc)
			delete(s.services, sid)
		}
	}
	kept := s.partitions[:0]
	for _, p := range s.partitions {
		if !want[p.Name] {
			kept = append(kept, p)
		}
	}
	s.partitions = kept
	s.mu.Unlock()
	sids := map[uint32]bool{}
	for _, svc := range gone {
		sids[svc.manifest.SID] = true
	}
	s.revokeDirect(sids) // a retired SID is unreachable over a direct lane too
	for _, svc := range gone {
		svc.gate.Lock()
		svc.retired = true
	}
	for _, svc := range gone {
		if sd, ok := svc.handler.(Shutdowner); ok {
			sd.Shutdown()
		}
	}
	for _, svc := range gone {
		svc.gate.Unlock()
	}
}

// RetireSID is the partition manager's own decommissioning service at
// isolation level 3 (spe/platform registers it for the lifecycle partition
// alone): it kills every other PSA root-of-trust process, which the SPM
// then starts again on the decommissioned device, and retires their
// services in the SPM.
const RetireSID = 0x0000f002
