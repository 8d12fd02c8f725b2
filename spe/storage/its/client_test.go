package its_test

import (
	"errors"
	"slices"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/spe"
	"rampart/spe/storage/its"
)

// TestClientThroughTheSPM: a secure partition in another process keeps
// objects in ITS through the partition manager (its.Client, level 3): set,
// get, list its own uids, remove; it lists only its own namespace, a
// non-secure client lists nothing, and a method for another client is
// refused before it leaves the process.
func TestClientThroughTheSPM(t *testing.T) {
	svc := newITS(t, t.TempDir(), its.Limits{})
	srv := spe.New(spe.Options{})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	session := func(client int32) ipc.Transport {
		c, err := srv.Local(client)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const self, neighbour int32 = 0x60, 0x61
	c := its.Client{T: session(self), Self: self}
	if err := svc.Set(neighbour, 5, []byte("theirs"), 0); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []psa.StorageUID{3, 1 << 40} {
		if err := c.Set(self, uid, []byte("record"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := c.Get(self, 3, 2, 16); err != nil || string(b) != "cord" {
		t.Fatalf("get: %q %v", b, err)
	}
	uids, err := c.UIDs(self)
	slices.Sort(uids)
	if err != nil || !slices.Equal(uids, []psa.StorageUID{3, 1 << 40}) {
		t.Fatalf("uids: %v %v", uids, err)
	}
	if err := c.Remove(self, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(self, 3, 0, 16); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Errorf("get after remove: %v", err)
	}
	if _, err := c.Get(neighbour, 5, 0, 16); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Errorf("a method for another client: %v, want NOT_PERMITTED", err)
	}
	ns := its.Client{T: session(-1), Self: -1}
	if _, err := ns.UIDs(-1); !errors.Is(err, ipc.ErrNotSupported) {
		t.Errorf("a non-secure client listing: %v, want NOT_SUPPORTED", err)
	}
}
