package storage_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/spe/storage"
)

func TestSealed(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	huk := bytes.Repeat([]byte{7}, 32)
	secret := []byte("private key bytes")
	if err := st.PutSealed("iak", "iak", huk, secret, bytes.NewReader(make([]byte, 12))); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "iak"))
	if bytes.Contains(raw, secret[:7]) {
		t.Fatal("secret stored in clear")
	}
	if got, err := st.GetSealed("iak", "iak", huk); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("%q %v", got, err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if _, err := st.GetSealed("iak", "iak", other); !errors.Is(err, storage.ErrUnseal) {
		t.Fatalf("other HUK: %v", err)
	}
	if _, err := st.GetSealed("iak", "audit", huk); !errors.Is(err, storage.ErrUnseal) {
		t.Fatalf("other label: %v", err)
	}
	for n := range raw {
		os.WriteFile(filepath.Join(dir, "iak"), raw[:n], 0o600)
		if _, err := st.GetSealed("iak", "iak", huk); !errors.Is(err, storage.ErrUnseal) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
}

func TestNamesAndDestroy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "../x", "a/b", "x.tmp", "UPPER"} {
		if err := st.Put(bad, nil); !errors.Is(err, storage.ErrName) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if err := st.Put("a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "b.tmp"), []byte("torn"), 0o600)
	st, err = storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.tmp")); !os.IsNotExist(err) {
		t.Fatal("interrupted write not cleaned up")
	}
	if names, _ := st.List(""); len(names) != 1 {
		t.Fatalf("list %v", names)
	}
	if err := st.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatal("store survives Destroy")
	}
}
