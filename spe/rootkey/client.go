package rootkey

import (
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// Client reaches the root key partition as the partition its transport
// calls as (a session the partition manager limits to the caller's
// manifest dependencies).
type Client struct{ T ipc.Transport }

func (c Client) call(op psa.RootKeyOp, in [][]byte, out []uint32) (*ipc.Reply, error) {
	rep, err := c.T.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.RootKeySID, Version: psa.RootKeyVersion,
		Type: int32(op), In: in, OutSize: out})
	if err != nil {
		return nil, fmt.Errorf("rootkey: %w", err)
	}
	if rep.Status != ipc.Success {
		return nil, fmt.Errorf("rootkey: %w", rep.Status)
	}
	return rep, nil
}

// Derive returns the key of label, HKDF-SHA256(HUK, label).
func (c Client) Derive(label string) ([]byte, error) {
	rep, err := c.call(psa.RootKeyOpDerive, [][]byte{[]byte(label)}, []uint32{psa.RootKeySize})
	if err != nil {
		return nil, err
	}
	if len(rep.Out) != 1 || len(rep.Out[0]) != psa.RootKeySize {
		return nil, fmt.Errorf("rootkey: derive answered %d outputs", len(rep.Out))
	}
	return append([]byte(nil), rep.Out[0]...), nil
}

// Retire makes the partition forget the HUK (decommissioning).
func (c Client) Retire() error {
	_, err := c.call(psa.RootKeyOpRetire, nil, nil)
	return err
}
