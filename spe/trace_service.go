package spe

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"rampart/ipc"
)

// TraceSID is the SID of the SPM's trace service.
const TraceSID = 0x0000f001

// Trace service call types:
//
//	start: in0 = u32 ring capacity (optional; 0 or absent: the default)
//	read:  in0 = u64 first sequence number; out0 = TracePage as JSON
//	stop:  nothing
const (
	TraceOpStart = 1
	TraceOpRead  = 2
	TraceOpStop  = 3
)

// TracePage is one read of the trace.
type TracePage struct {
	Events  []TraceEvent `json:"events"`
	Dropped uint64       `json:"dropped"` // events lost to the ring's size
	On      bool         `json:"on"`
}

// maxTraceEventJSON bounds one event's JSON, to fit a page in out0.
const maxTraceEventJSON = 400

// RegisterTrace registers the trace service, for clients only (a trace
// names every client's calls: who may read it is configured, never
// everyone).
func (s *Server) RegisterTrace(clients []int32) error {
	if len(clients) == 0 {
		return fmt.Errorf("spe: trace service: no client may read the trace: %w", ErrConfig)
	}
	m := PartitionManifest{
		FrameworkVersion: "1.1", Name: "RAMPART_SPE_TRACE", Type: PSARoT,
		Services: []ServiceManifest{{Name: "RAMPART_SPE_TRACE", SID: TraceSID, Version: 1, VersionPolicy: Relaxed,
			Stateless: true, NonSecureClients: true, Clients: clients}},
	}
	return s.Register(m, map[string]Handler{"RAMPART_SPE_TRACE": HandlerFunc(s.traceCall)})
}

func (s *Server) traceCall(m *Message) ipc.Status {
	switch m.Type {
	case TraceOpStart:
		n := 0
		if in := m.InVec(0); len(in) == 4 {
			n = int(binary.LittleEndian.Uint32(in))
		} else if len(in) != 0 {
			return ipc.ErrInvalidArgument
		}
		s.StartTrace(n)
		return ipc.Success
	case TraceOpStop:
		s.StopTrace()
		return ipc.Success
	case TraceOpRead:
		in := m.InVec(0)
		if len(in) != 8 || len(m.OutSize) != 1 {
			return ipc.ErrInvalidArgument
		}
		max := int(m.OutSize[0])/maxTraceEventJSON - 1
		if max < 1 {
			return ipc.ErrBufferTooSmall
		}
		ev, dropped, on := s.Trace(binary.LittleEndian.Uint64(in), max)
		if ev == nil {
			ev = []TraceEvent{}
		}
		for {
			b, err := json.Marshal(TracePage{Events: ev, Dropped: dropped, On: on})
			if err != nil {
				return m.Fail(ipc.ErrGenericError, err)
			}
			if len(b) <= int(m.OutSize[0]) || len(ev) <= 1 {
				return m.Write(0, b)
			}
			ev = ev[:len(ev)/2] // long names: a smaller page
		}
	}
	return ipc.ErrNotSupported
}
