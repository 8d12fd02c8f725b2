package rootkey_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"testing"

	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/rootkey"
)

const (
	granted  int32 = 0x10
	other    int32 = 0x11
	retirer  int32 = 0x12
	theLabel       = "rampart test label"
)

// serve registers a root key partition over huk and returns sessions for
// partitions and a non-secure client.
func serve(t *testing.T, huk []byte) func(client int32) rootkey.Client {
	t.Helper()
	srv := spe.New(spe.Options{})
	grants := map[int32]rootkey.Grant{granted: func(l string) bool { return l == theLabel }}
	if err := rootkey.New(huk, grants, retirer).Register(srv); err != nil {
		t.Fatal(err)
	}
	return func(client int32) rootkey.Client {
		c, err := srv.Local(client)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return rootkey.Client{T: c}
	}
}

// TestDeriveGrantedOnly: a partition gets HKDF-SHA256(HUK, label) for its
// granted label, the very key it would derive from the HUK itself; another
// label, another partition and a non-secure client are refused; after
// retire nothing is derived.
func TestDeriveGrantedOnly(t *testing.T) {
	huk := bytes.Repeat([]byte{0x5a}, 32)
	as := serve(t, huk)
	want, err := hkdf.Key(sha256.New, huk, nil, theLabel, 32)
	if err != nil {
		t.Fatal(err)
	}
	got, err := as(granted).Derive(theLabel)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("derive: %x %v, want %x", got, err, want)
	}
	for name, try := range map[string]func() error{
		"another label":     func() error { _, err := as(granted).Derive(theLabel + "x"); return err },
		"another partition": func() error { _, err := as(other).Derive(theLabel); return err },
		"retire by another": func() error { return as(granted).Retire() },
	} {
		if err := try(); !errors.Is(err, ipc.ErrNotPermitted) {
			t.Errorf("%s: %v, want PSA_ERROR_NOT_PERMITTED", name, err)
		}
	}
	// The manifest lets no non-secure client connect.
	if _, err := as(-1).Derive(theLabel); !errors.Is(err, ipc.ErrConnectionRefused) {
		t.Errorf("a non-secure client: %v, want PSA_ERROR_CONNECTION_REFUSED", err)
	}
	if err := as(retirer).Retire(); err != nil {
		t.Fatal(err)
	}
	if _, err := as(granted).Derive(theLabel); !errors.Is(err, ipc.ErrBadState) {
		t.Errorf("derive after retire: %v, want PSA_ERROR_BAD_STATE", err)
	}
}
