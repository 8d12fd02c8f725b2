package auditsvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/audit"
)

// AnchorClientID and anchorUID name the ITS object holding the latest
// checkpoint of the log (the partition's own secure client ID).
const (
	AnchorClientID int32          = 0xf102
	anchorUID      psa.StorageUID = 1
)

// ITSAnchor keeps the log's latest checkpoint in ITS, outside the log's
// own file, so that a log truncated or rolled back to an older checkpoint
// is refused at the next start instead of being taken for a torn append.
type ITSAnchor struct{ ITS AnchorStore }

// AnchorStore is ITS as the anchor uses it: *its.Service in this process,
// or its.Client through the partition manager (isolation level 3), always
// under AnchorClientID.
type AnchorStore interface {
	Get(client int32, uid psa.StorageUID, offset uint32, size int) ([]byte, error)
	Set(client int32, uid psa.StorageUID, data []byte, flags psa.StorageFlags) error
}

type anchorJSON struct {
	Count     uint64 `json:"count"`
	Head      []byte `json:"head"`
	Time      int64  `json:"time_unix_nano"`
	Signature []byte `json:"signature"`
}

// Load returns the stored checkpoint, or nil when there is none.
func (a ITSAnchor) Load() (*audit.Checkpoint, error) {
	b, err := a.ITS.Get(AnchorClientID, anchorUID, 0, 4096)
	if errors.Is(err, ipc.ErrDoesNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auditsvc: anchor: %w", err)
	}
	var j anchorJSON
	if err := json.Unmarshal(b, &j); err != nil || len(j.Head) != 32 {
		return nil, fmt.Errorf("auditsvc: anchor record is malformed: %w", ipc.ErrDataCorrupt)
	}
	c := &audit.Checkpoint{Count: j.Count, Signature: j.Signature}
	copy(c.Head[:], j.Head)
	c.Time = unixNano(j.Time)
	return c, nil
}

// Save stores c as the anchor.
func (a ITSAnchor) Save(c *audit.Checkpoint) error {
	b, err := json.Marshal(anchorJSON{Count: c.Count, Head: c.Head[:], Time: c.Time.UnixNano(), Signature: c.Signature})
	if err != nil {
		return err
	}
	return a.ITS.Set(AnchorClientID, anchorUID, b, 0)
}

func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
