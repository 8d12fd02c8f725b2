package cli

import (
	"errors"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

// storageClient is what psaclient's ITS and PS clients have in common.
type storageClient interface {
	Set(uid psa.StorageUID, data []byte, flags psa.StorageFlags) error
	Remove(uid psa.StorageUID) error
}

// fillUntilFull does what psa-arch-tests' storage test s003 does: set
// 512-byte objects under new uids until the service refuses one, then
// remove them all, and return how many fitted.
func fillUntilFull(t *testing.T, name string, c storageClient) int {
	t.Helper()
	data := make([]byte, 512)
	n := 0
	var err error
	for uid := psa.StorageUID(100); ; uid++ {
		if err = c.Set(uid, data, 0); err != nil {
			break
		}
		n++
		if n > 10000 {
			t.Fatalf("%s: no quota after %d objects", name, n)
		}
	}
	if !errors.Is(err, ipc.ErrInsufficientStorage) {
		t.Fatalf("%s: filling stopped with %v, want INSUFFICIENT_STORAGE", name, err)
	}
	for uid := psa.StorageUID(100); uid < psa.StorageUID(100+n); uid++ {
		if err := c.Remove(uid); err != nil {
			t.Fatalf("%s: remove %d: %v", name, uid, err)
		}
	}
	return n
}

// TestSpeServeStorageQuotas: the quotas of `limits` in the configuration
// reach ITS and PS; filling either until INSUFFICIENT_STORAGE, emptying it
// and filling it again fits the same number of objects (what
// psa-arch-tests' s003 checks). Before, the configuration had no limits.
func TestSpeServeStorageQuotas(t *testing.T) {
	s := startSpeServeWith(t, "spe-quota", map[string]any{"limits": map[string]any{
		"its": map[string]any{"max_objects_per_client": 7},
		"ps":  map[string]any{"max_objects_per_client": 5},
	}})
	dial := func() ipc.Transport {
		c, err := ipc.Dial(s.sock)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	its, ps := psaclient.NewITS(dial()), psaclient.NewPS(dial())
	for round := 0; round < 2; round++ {
		if n := fillUntilFull(t, "its", its); n != 7 {
			t.Fatalf("round %d: ITS took %d objects, the quota is 7", round, n)
		}
		if n := fillUntilFull(t, "ps", ps); n != 5 {
			t.Fatalf("round %d: PS took %d objects, the quota is 5", round, n)
		}
	}
	its.Close()
	ps.Close()
	s.stop(t)
}
