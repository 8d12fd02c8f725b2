package lifecycle_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/attest"
	"rampart/ipc"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/lifecycle"
	"rampart/spe/storage"
)

var majors = []lifecycle.State{
	attest.LifecycleUnknown, attest.LifecycleAssemblyAndTest, attest.LifecyclePSARoTProvisioning,
	attest.LifecycleSecured, attest.LifecycleNonPSARoTDebug, attest.LifecycleRecoverablePSARoTDebug,
	attest.LifecycleDecommissioned,
}

func open(t *testing.T, dir string) *lifecycle.Manager {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := lifecycle.Open(st)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestTransitionTable checks every pair of major states against the table
// written out independently here.
func TestTransitionTable(t *testing.T) {
	want := map[[2]lifecycle.State]bool{
		{0x0000, 0x1000}: true, {0x1000, 0x2000}: true, {0x2000, 0x3000}: true,
		{0x3000, 0x4000}: true, {0x4000, 0x3000}: true, {0x3000, 0x5000}: true, {0x5000, 0x2000}: true,
	}
	for _, from := range majors {
		for _, to := range majors {
			exp := want[[2]lifecycle.State{from, to}] || (to == 0x6000 && from != 0x6000)
			if got := lifecycle.Allowed(from, to); got != exp {
				t.Errorf("%s -> %s: allowed %v, want %v", from, to, got, exp)
			}
		}
	}
}

func TestPersistAndForbidden(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	if m.State() != attest.LifecycleAssemblyAndTest {
		t.Fatalf("fresh device in %s", m.State())
	}
	if err := m.Transition(attest.LifecycleSecured); !errors.Is(err, lifecycle.ErrTransition) {
		t.Fatalf("skip provisioning: %v", err)
	}
	for _, s := range []lifecycle.State{attest.LifecyclePSARoTProvisioning, attest.LifecycleSecured, attest.LifecycleNonPSARoTDebug + 1} {
		if err := m.Transition(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := open(t, dir).State(); got != attest.LifecycleNonPSARoTDebug+1 {
		t.Fatalf("reloaded %s", got)
	}
	if err := m.Transition(0x7000); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("invalid value: %v", err)
	}
	// A damaged state record is refused, not read as some state.
	p := filepath.Join(dir, "state")
	b, _ := os.ReadFile(p)
	b[4] ^= 0x10
	os.WriteFile(p, b, 0o600)
	st, _ := storage.Open(dir, storage.Options{})
	if _, err := lifecycle.Open(st); !errors.Is(err, ipc.ErrDataCorrupt) {
		t.Fatalf("damaged record: %v", err)
	}
}

func TestDecommissionDestroysAndIsFinal(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("key"), 0o600)
	m := open(t, dir)
	runs := 0
	m.OnDecommission(func() error { runs++; return storage.ShredFile(secret) })
	if err := m.Transition(attest.LifecycleDecommissioned); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(secret); !os.IsNotExist(err) {
		t.Fatalf("secret survives: %v", err)
	}
	for _, s := range majors {
		if err := m.Transition(s); err == nil {
			t.Fatalf("left decommissioned for %s", s)
		}
	}
	// A restart runs the destroyers again (a power cut may have stopped them).
	m2 := open(t, dir)
	m2.OnDecommission(func() error { runs++; return nil })
	if err := m2.Resume(); err != nil || runs != 2 {
		t.Fatalf("resume: %v, %d runs", err, runs)
	}
}

func TestService(t *testing.T) {
	m := open(t, t.TempDir())
	srv := spe.New(spe.Options{})
	if err := (&lifecycle.Service{M: m, Admins: []int32{-9}}).Register(srv); err != nil {
		t.Fatal(err)
	}
	lu, _ := srv.Local(-1)
	la, _ := srv.Local(-9)
	user, admin := psaclient.NewLifecycle(lu), psaclient.NewLifecycle(la)
	defer user.Close()
	defer admin.Close()
	if s, err := user.Get(); err != nil || s != 0x1000 {
		t.Fatalf("get %x %v", s, err)
	}
	if err := user.Set(0x2000); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("user transition: %v", err)
	}
	if err := admin.Set(0x3000); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("forbidden transition: %v", err)
	}
	if err := admin.Set(0x2000); err != nil {
		t.Fatal(err)
	}
	if s, _ := user.Get(); s != 0x2000 {
		t.Fatalf("state %x", s)
	}
}

func TestStateRecordPrefixes(t *testing.T) {
	dir := t.TempDir()
	m := open(t, dir)
	if err := m.Transition(attest.LifecyclePSARoTProvisioning); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "state")
	b, _ := os.ReadFile(p)
	for n := 0; n < len(b); n++ {
		os.WriteFile(p, b[:n], 0o600)
		st, _ := storage.Open(dir, storage.Options{})
		if _, err := lifecycle.Open(st); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("prefix %d: %v", n, err)
		}
	}
	os.WriteFile(p, append(b, 0), 0o600)
	st, _ := storage.Open(dir, storage.Options{})
	if _, err := lifecycle.Open(st); !errors.Is(err, ipc.ErrDataCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}
