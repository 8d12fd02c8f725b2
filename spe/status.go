package spe

import (
	"encoding/json"

	"rampart/ipc"
)

// StatusSID is the SID of the SPE's own status service.
const StatusSID = 0x0000f000

// StatusManifest declares the status partition: one stateless service that
// returns the server's Stats as JSON in output vector 0. It reveals counts
// and the service table, never keys or other clients' identities.
var StatusManifest = PartitionManifest{
	FrameworkVersion: "1.1",
	Name:             "RAMPART_SPE_STATUS",
	Type:             PSARoT,
	Services: []ServiceManifest{{
		Name: "RAMPART_SPE_STATUS", SID: StatusSID, Version: 1, VersionPolicy: Relaxed,
		Stateless: true, NonSecureClients: true,
	}},
}

// RegisterStatus registers the status service.
func (s *Server) RegisterStatus() error {
	return s.Register(StatusManifest, map[string]Handler{
		"RAMPART_SPE_STATUS": HandlerFunc(func(m *Message) ipc.Status {
			b, err := json.Marshal(s.Stats())
			if err != nil {
				return ipc.ErrGenericError
			}
			return m.Write(0, b)
		}),
	})
}
