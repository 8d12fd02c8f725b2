package fwu

import (
	"encoding/json"
	"errors"
	"fmt"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
)

// component is the persisted state of one component.
type component struct {
	State     psa.FWUState        `json:"state"`
	Error     int32               `json:"error,omitempty"`
	Candidate psa.FWUImageVersion `json:"candidate"`
	Written   uint32              `json:"written,omitempty"`
}

const stateObject = "state"

// loadState reads the components' state; slotSize[i] bounds component i's
// Written count. The record has no MAC (it only ever leads to an image
// that is verified before it is staged), so a record that does not parse,
// or claims more bytes than the slot holds, marks the component FAILED
// (DATA_CORRUPT) rather than being believed.
func loadState(st *storage.Store, slotSize []uint32) ([]component, error) {
	n := len(slotSize)
	comps := make([]component, n)
	b, err := st.Get(stateObject)
	if errors.Is(err, storage.ErrNotExist) {
		return comps, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fwu: %w", err)
	}
	var saved []component
	if err := json.Unmarshal(b, &saved); err != nil {
		// A damaged state record must not keep the SPE from starting: every
		// component is FAILED (DATA_CORRUPT) until cleaned.
		for i := range comps {
			comps[i] = component{State: psa.FWUFailed, Error: int32(ipc.ErrDataCorrupt)}
		}
		return comps, nil
	}
	for i := range comps {
		switch {
		case i >= len(saved) || saved[i].State > psa.FWUUpdated:
		case saved[i].Written > slotSize[i]:
			comps[i] = component{State: psa.FWUFailed, Error: int32(ipc.ErrDataCorrupt)}
		default:
			comps[i] = saved[i]
		}
	}
	return comps, nil
}

func saveState(st *storage.Store, comps []component) error {
	b, err := json.Marshal(comps)
	if err != nil {
		return err
	}
	if err := st.Put(stateObject, b); err != nil {
		return fmt.Errorf("fwu: %w", err)
	}
	return nil
}
