package fwu

import (
	"encoding/json"
	"errors"
	"fmt"

	"rampart/psa"
	"rampart/spe/ipc"
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

func loadState(st *storage.Store, n int) ([]component, error) {
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
		if i < len(saved) && saved[i].State <= psa.FWUUpdated {
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
