package ps

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"rampart/ipc"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

// TestShutdownForgetsHUK: PS keeps its own copy of the hardware unique key;
// Shutdown overwrites it and every later call is refused with BAD_STATE.
func TestShutdownForgetsHUK(t *testing.T) {
	dir := t.TempDir()
	itsSt, err := storage.Open(filepath.Join(dir, "its"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	psSt, err := storage.Open(filepath.Join(dir, "ps"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Store: psSt, ITS: its.New(itsSt, its.Limits{}), HUK: bytes.Repeat([]byte{0x42}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(-1, 1, []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	s.Shutdown()
	if !bytes.Equal(s.huk, make([]byte, 32)) {
		t.Fatal("PS's copy of the HUK survives Shutdown")
	}
	if _, err := s.Get(-1, 1, 0, 16); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("get after shutdown: %v", err)
	}
	if err := s.Set(-1, 2, []byte("x"), 0); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("set after shutdown: %v", err)
	}
	if _, err := s.GetInfo(-1, 1); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("get_info after shutdown: %v", err)
	}
	if err := s.Remove(-1, 1); !errors.Is(err, ipc.ErrBadState) {
		t.Fatalf("remove after shutdown: %v", err)
	}
	s.Shutdown()
}
