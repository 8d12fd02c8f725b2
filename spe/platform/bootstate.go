package platform

import (
	"encoding/json"
	"errors"
	"fmt"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/fwu"
	"rampart/swcomponent"
)

// FWUOpBootState is a vendor call of the FWU partition, answered to the
// attestation partition alone (isolation level 3, where the device is in
// FWU's process): out0 = this boot's measurements and the release-key
// fuses (bootState, JSON). Any other caller gets PSA_ERROR_NOT_PERMITTED.
const FWUOpBootState psa.FWUOp = 0x0100

// maxBootState bounds the answer: a few components of a few hundred bytes.
const maxBootState = 64 << 10

// bootState is FWUOpBootState's answer.
type bootState struct {
	// Records are the software components, each in its deterministic CBOR.
	Records  [][]byte         `json:"records"`
	KeyFuses *attest.KeyFuses `json:"key_fuses,omitempty"`
}

// parseBootState decodes FWUOpBootState's answer.
func parseBootState(b []byte) ([]swcomponent.Component, *attest.KeyFuses, error) {
	var bs bootState
	if err := json.Unmarshal(b, &bs); err != nil {
		return nil, nil, fmt.Errorf("platform: boot state: %w", err)
	}
	var out []swcomponent.Component
	for i, r := range bs.Records {
		var c swcomponent.Component
		if err := c.UnmarshalCBOR(r); err != nil {
			return nil, nil, fmt.Errorf("platform: boot state: record %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, bs.KeyFuses, nil
}

// bootStateHandler registers FWU with FWUOpBootState added.
func (p *Platform) bootStateHandler() interface{ Register(*spe.Server) error } {
	return bootStateFWU{p}
}

type bootStateFWU struct{ p *Platform }

func (b bootStateFWU) Register(srv *spe.Server) error {
	return srv.Register(fwu.Manifest, map[string]spe.Handler{"FWU": b})
}

// Shutdown passes decommissioning on to FWU.
func (b bootStateFWU) Shutdown() { b.p.FWU.Shutdown() }

func (b bootStateFWU) Call(m *spe.Message) ipc.Status {
	if psa.FWUOp(m.Type) != FWUOpBootState {
		return b.p.FWU.Call(m)
	}
	if m.Client != AttestationPartitionID {
		return ipc.ErrNotPermitted
	}
	if m.NumIn() != 0 || len(m.OutSize) != 1 {
		return ipc.ErrProgrammerError
	}
	bs := bootState{KeyFuses: b.p.keyFuses()}
	for _, c := range b.p.bootRecords() {
		r, err := c.MarshalCBOR()
		if err != nil {
			return m.Fail(ipc.ErrGenericError, err)
		}
		bs.Records = append(bs.Records, r)
	}
	out, err := json.Marshal(bs)
	if err != nil {
		return m.Fail(ipc.ErrGenericError, err)
	}
	return m.Write(0, out)
}

// remoteBootState asks the FWU partition for this boot's measurements, as
// the attestation partition.
type remoteBootState struct{ t ipc.Transport }

func (r remoteBootState) get() ([]swcomponent.Component, *attest.KeyFuses, error) {
	rep, err := r.t.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.FWUSID, Version: psa.FWUVersion,
		Type: int32(FWUOpBootState), OutSize: []uint32{maxBootState}})
	if err != nil {
		return nil, nil, fmt.Errorf("platform: boot state: %w", err)
	}
	if rep.Status != ipc.Success {
		return nil, nil, fmt.Errorf("platform: boot state: %w", rep.Status)
	}
	if len(rep.Out) != 1 {
		return nil, nil, errors.New("platform: boot state: no answer")
	}
	return parseBootState(rep.Out[0])
}
