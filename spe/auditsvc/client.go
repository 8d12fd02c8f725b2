package auditsvc

import (
	"fmt"

	"rampart/ipc"
	"rampart/psa"
)

// Client reaches the audit partition from another secure partition (level
// 3: the lifecycle partition records its transitions by calls). The secure
// side has its own client so that it never links the non-secure one
// (psaclient).
type Client struct{ T ipc.Transport }

// Append adds a record to the audit log.
func (c Client) Append(event string, data []byte) error {
	rep, err := c.T.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: psa.AuditSID, Version: psa.AuditVersion,
		Type: int32(psa.AuditOpAppend), In: [][]byte{[]byte(event), data}})
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if rep.Status != ipc.Success {
		return fmt.Errorf("audit: %w", rep.Status)
	}
	return nil
}
