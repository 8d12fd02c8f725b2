package its_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

func newITS(t testing.TB, dir string, lim its.Limits) *its.Service {
	t.Helper()
	s, _ := newITSStore(t, dir, lim)
	return s
}

func newITSStore(t testing.TB, dir string, lim its.Limits) (*its.Service, *storage.Store) {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return its.New(st, lim), st
}

// client returns a psaclient.ITS talking to s through an in-process SPE.
func client(t testing.TB, s *its.Service, id int32) *psaclient.ITS {
	t.Helper()
	srv := spe.New(spe.Options{})
	if err := s.Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := srv.Local(id)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewITS(l)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSemantics(t *testing.T) {
	s := newITS(t, t.TempDir(), its.Limits{MaxAssetSize: 64, MaxAssets: 3})
	c := client(t, s, -1)
	if err := c.Set(0, []byte("x"), 0); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("uid 0: %v", err)
	}
	if _, err := c.Get(7, 0, 10); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	if err := c.Set(7, []byte("hello world"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(7, 6, 100)
	if err != nil || string(got) != "world" {
		t.Fatalf("get offset 6: %q %v", got, err)
	}
	got, err = c.Get(7, 0, 5)
	if err != nil || string(got) != "hello" {
		t.Fatalf("get size 5: %q %v", got, err)
	}
	if got, err := c.Get(7, 11, 5); err != nil || len(got) != 0 {
		t.Fatalf("offset == len: %q %v", got, err)
	}
	if _, err := c.Get(7, 12, 5); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("offset > len: %v", err)
	}
	info, err := c.GetInfo(7)
	if err != nil || info.Size != 11 || info.Capacity != 11 || info.Flags != 0 {
		t.Fatalf("info %+v %v", info, err)
	}
	if err := c.Set(8, nil, 0); err != nil {
		t.Fatalf("zero-length set: %v", err)
	}
	if err := c.Set(9, make([]byte, 65), 0); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("oversized: %v", err)
	}
	if err := c.Set(9, []byte("once"), psa.StorageFlagWriteOnce); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(9, []byte("twice"), 0); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("rewrite write-once: %v", err)
	}
	if err := c.Remove(9); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("remove write-once: %v", err)
	}
	if err := c.Set(10, []byte("four"), 0); !errors.Is(err, ipc.ErrInsufficientStorage) {
		t.Fatalf("fourth asset: %v", err)
	}
	if err := c.Set(7, []byte("x"), 0x10); !errors.Is(err, ipc.ErrNotSupported) {
		t.Fatalf("unknown flag: %v", err)
	}
	if err := c.Remove(7); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(7); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("remove twice: %v", err)
	}
	// Another client has its own namespace.
	if _, err := s.Get(-2, 8, 0, 10); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("client -2 sees client -1's uid 8: %v", err)
	}
}

func TestCorruptFileIsDataCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := newITS(t, dir, its.Limits{})
	if err := s.Set(-1, 5, []byte("secret state"), 0); err != nil {
		t.Fatal(err)
	}
	names, _ := s.Store().List("")
	p := filepath.Join(dir, names[0])
	b, _ := os.ReadFile(p)
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x40
		os.WriteFile(p, c, 0o600)
		if _, err := s.Get(-1, 5, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("flip byte %d: %v", i, err)
		}
	}
	for n := 0; n < len(b); n++ {
		os.WriteFile(p, b[:n], 0o600)
		if _, err := s.Get(-1, 5, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("prefix %d: %v", n, err)
		}
		if err := s.Set(-1, 5, []byte("x"), 0); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("set over prefix %d: %v", n, err)
		}
	}
	// The owner recovers the uid by removing the damaged object.
	if err := s.Remove(-1, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(-1, 5, []byte("fresh"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestPowerCutEveryStep cuts the power at every write, fsync and rename step
// of a replace and of a remove, reopens the store, and checks the object is
// the old value or the new one, complete.
func TestPowerCutEveryStep(t *testing.T) {
	oldV, newV := bytes.Repeat([]byte("old."), 100), bytes.Repeat([]byte("NEW!"), 120)
	for _, remove := range []bool{false, true} {
		for k := 1; ; k++ {
			dir := t.TempDir()
			s, st := newITSStore(t, dir, its.Limits{})
			if err := s.Set(-1, 1, oldV, 0); err != nil {
				t.Fatal(err)
			}
			var n int
			st.SetFault(storage.CutAt(k, &n))
			var err error
			if remove {
				err = s.Remove(-1, 1)
			} else {
				err = s.Set(-1, 1, newV, 0)
			}
			s2 := newITS(t, dir, its.Limits{}) // reboot
			got, gerr := s2.Get(-1, 1, 0, 1000)
			switch {
			case remove && errors.Is(gerr, ipc.ErrDoesNotExist):
			case gerr != nil:
				t.Fatalf("remove=%v cut at step %d: %v", remove, k, gerr)
			case !bytes.Equal(got, oldV) && !bytes.Equal(got, newV):
				t.Fatalf("remove=%v cut at step %d: torn value %q", remove, k, got)
			}
			if err == nil {
				if remove && gerr == nil || !remove && !bytes.Equal(got, newV) {
					t.Fatalf("remove=%v step %d: acknowledged change lost", remove, k)
				}
				if k < 3 {
					t.Fatalf("only %d steps", k)
				}
				break
			}
			if leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(leftovers) != 0 {
				t.Fatalf("temporary files survive reopening: %v", leftovers)
			}
		}
	}
}
