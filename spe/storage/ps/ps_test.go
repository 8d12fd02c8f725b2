package ps_test

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
	"rampart/spe/storage/ps"
)

var testHUK = bytes.Repeat([]byte{0x42}, 32)

type rig struct {
	dir      string
	its, pss *storage.Store
	ps       *ps.Service
}

// open (re)opens PS and its ITS in dir, as after a reboot.
func open(t testing.TB, dir string) *rig {
	t.Helper()
	itsSt, err := storage.Open(filepath.Join(dir, "its"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	psSt, err := storage.Open(filepath.Join(dir, "ps"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ps.New(ps.Options{Store: psSt, ITS: its.New(itsSt, its.Limits{}), HUK: testHUK, Limits: its.Limits{MaxAssetSize: 2048, MaxAssets: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, its: itsSt, pss: psSt, ps: s}
}

func (r *rig) file(t testing.TB, client int32, uid uint64) string {
	t.Helper()
	names, err := r.pss.List("")
	if err != nil || len(names) == 0 {
		t.Fatalf("no PS files: %v", err)
	}
	for _, n := range names {
		if n == objName(client, uid) {
			return filepath.Join(r.pss.Dir(), n)
		}
	}
	t.Fatalf("no file for %d/%d in %v", client, uid, names)
	return ""
}

func objName(client int32, uid uint64) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 25)
	for i := 28; i >= 0; i -= 4 {
		b = append(b, hex[uint32(client)>>i&15])
	}
	b = append(b, '-')
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[uid>>i&15])
	}
	return string(b)
}

func TestClientRoundTrip(t *testing.T) {
	r := open(t, t.TempDir())
	srv := spe.New(spe.Options{})
	if err := r.ps.Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := srv.Local(-3)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewPS(l)
	defer c.Close()
	if err := c.Set(1, []byte("protected value"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(1, 10, 100)
	if err != nil || string(got) != "value" {
		t.Fatalf("%q %v", got, err)
	}
	info, err := c.GetInfo(1)
	if err != nil || info.Size != 15 {
		t.Fatalf("%+v %v", info, err)
	}
	if sup, err := c.GetSupport(); err != nil || sup != ps.SupportSetExtended {
		t.Fatalf("support %d %v", sup, err)
	}
	if err := c.Set(0, nil, 0); !errors.Is(err, ipc.ErrInvalidArgument) {
		t.Fatalf("uid 0: %v", err)
	}
	if err := c.Set(2, []byte("w"), psa.StorageFlagWriteOnce); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(2, []byte("w2"), 0); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("write-once: %v", err)
	}
	if err := c.Remove(1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(1, 0, 10); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("after remove: %v", err)
	}
}

func TestConfidentiality(t *testing.T) {
	r := open(t, t.TempDir())
	secret := []byte("the quick brown fox is a secret")
	if err := r.ps.Set(-1, 1, secret, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Set(-1, 2, secret, psa.StorageFlagNoConfidentiality); err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(r.file(t, -1, 1))
	b2, _ := os.ReadFile(r.file(t, -1, 2))
	if bytes.Contains(b1, secret[:8]) {
		t.Fatal("confidential object stored in clear")
	}
	if !bytes.Contains(b2, secret) {
		t.Fatal("NO_CONFIDENTIALITY object not stored in clear")
	}
}

// TestTamper flips every byte and truncates to every prefix of each kind of
// object file: every change is refused.
func TestTamper(t *testing.T) {
	for _, flags := range []psa.StorageFlags{0, psa.StorageFlagNoConfidentiality, psa.StorageFlagNoReplayProtection} {
		r := open(t, t.TempDir())
		if err := r.ps.Set(-1, 9, []byte("integrity matters"), flags); err != nil {
			t.Fatal(err)
		}
		p := r.file(t, -1, 9)
		b, _ := os.ReadFile(p)
		for i := range b {
			c := bytes.Clone(b)
			c[i] ^= 1
			os.WriteFile(p, c, 0o600)
			if got, err := r.ps.Get(-1, 9, 0, 100); err == nil {
				t.Fatalf("flags %d: flip byte %d accepted: %q", flags, i, got)
			}
		}
		for n := 0; n < len(b); n++ {
			os.WriteFile(p, b[:n], 0o600)
			if _, err := r.ps.Get(-1, 9, 0, 100); !errors.Is(err, ipc.ErrInvalidSignature) {
				t.Fatalf("flags %d: prefix %d: %v", flags, n, err)
			}
		}
		os.WriteFile(p, b, 0o600)
		if _, err := r.ps.Get(-1, 9, 0, 100); err != nil {
			t.Fatalf("restored file: %v", err)
		}
		// Another client's file put in place of this one is refused.
		if err := r.ps.Set(-2, 9, []byte("other"), flags); err != nil {
			t.Fatal(err)
		}
		other, _ := os.ReadFile(r.file(t, -2, 9))
		os.WriteFile(p, other, 0o600)
		if _, err := r.ps.Get(-1, 9, 0, 100); !errors.Is(err, ipc.ErrInvalidSignature) {
			t.Fatalf("flags %d: swapped file: %v", flags, err)
		}
	}
}

func TestReplay(t *testing.T) {
	r := open(t, t.TempDir())
	if err := r.ps.Set(-1, 4, []byte("balance=100"), 0); err != nil {
		t.Fatal(err)
	}
	p := r.file(t, -1, 4)
	old, _ := os.ReadFile(p)
	if err := r.ps.Set(-1, 4, []byte("balance=5"), 0); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, old, 0o600)
	if _, err := r.ps.Get(-1, 4, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
		t.Fatalf("replayed file: %v", err)
	}
	// A removed object does not come back from an old copy.
	if err := r.ps.Set(-1, 4, []byte("balance=7"), 0); err != nil {
		t.Fatal(err)
	}
	if err := r.ps.Remove(-1, 4); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, old, 0o600)
	if _, err := r.ps.Get(-1, 4, 0, 100); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("resurrected file: %v", err)
	}
	// A deleted backing file of a live object is reported, not hidden.
	if err := r.ps.Set(-1, 5, []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	os.Remove(r.file(t, -1, 5))
	if _, err := r.ps.Get(-1, 5, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
		t.Fatalf("deleted file: %v", err)
	}
	// NO_REPLAY_PROTECTION objects accept an old copy: that is the flag's meaning.
	if err := r.ps.Set(-1, 6, []byte("v1"), psa.StorageFlagNoReplayProtection); err != nil {
		t.Fatal(err)
	}
	p6 := r.file(t, -1, 6)
	old6, _ := os.ReadFile(p6)
	if err := r.ps.Set(-1, 6, []byte("v2"), psa.StorageFlagNoReplayProtection); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p6, old6, 0o600)
	if got, err := r.ps.Get(-1, 6, 0, 100); err != nil || string(got) != "v1" {
		t.Fatalf("no-replay object: %q %v", got, err)
	}
	// ...but switching a protected object to NO_REPLAY_PROTECTION does not
	// make its protected past replayable.
	if err := r.ps.Set(-1, 7, []byte("protected"), 0); err != nil {
		t.Fatal(err)
	}
	p7 := r.file(t, -1, 7)
	old7, _ := os.ReadFile(p7)
	if err := r.ps.Set(-1, 7, []byte("unprotected"), psa.StorageFlagNoReplayProtection); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p7, old7, 0o600)
	if _, err := r.ps.Get(-1, 7, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
		t.Fatalf("protected past replayed: %v", err)
	}
}

// TestPowerCutEveryStep cuts the power at each step of the PS file and ITS
// record writes of a replace and of a remove, reboots, and checks that the
// object reads as the old or the new value and that later sets work.
func TestPowerCutEveryStep(t *testing.T) {
	oldV, newV := bytes.Repeat([]byte("o"), 300), bytes.Repeat([]byte("N"), 700)
	for _, flags := range []psa.StorageFlags{0, psa.StorageFlagNoReplayProtection} {
		for _, remove := range []bool{false, true} {
			for k := 1; ; k++ {
				dir := t.TempDir()
				r := open(t, dir)
				if err := r.ps.Set(-1, 1, oldV, flags); err != nil {
					t.Fatal(err)
				}
				var n int
				r.its.SetFault(storage.CutAt(k, &n))
				r.pss.SetFault(storage.CutAt(k, &n))
				var err error
				if remove {
					err = r.ps.Remove(-1, 1)
				} else {
					err = r.ps.Set(-1, 1, newV, flags)
				}
				r2 := open(t, dir)
				got, gerr := r2.ps.Get(-1, 1, 0, 1000)
				switch {
				case remove && errors.Is(gerr, ipc.ErrDoesNotExist):
				case gerr != nil:
					t.Fatalf("flags %d remove=%v cut at step %d: %v", flags, remove, k, gerr)
				case !bytes.Equal(got, oldV) && !bytes.Equal(got, newV):
					t.Fatalf("flags %d remove=%v cut at step %d: torn value", flags, remove, k)
				}
				if err := r2.ps.Set(-1, 1, []byte("after"), flags); err != nil {
					t.Fatalf("flags %d remove=%v cut at step %d: set after reboot: %v", flags, remove, k, err)
				}
				if got, err := r2.ps.Get(-1, 1, 0, 100); err != nil || string(got) != "after" {
					t.Fatalf("flags %d step %d: %q %v", flags, k, got, err)
				}
				if err == nil {
					if remove && gerr == nil || !remove && !bytes.Equal(got, newV) {
						t.Fatalf("flags %d remove=%v step %d: acknowledged change lost", flags, remove, k)
					}
					break
				}
			}
		}
	}
}

// TestDamagedVersionRecord: a damaged or foreign ITS version record makes
// the object unreadable (DATA_CORRUPT), never readable as a replay.
func TestDamagedVersionRecord(t *testing.T) {
	r := open(t, t.TempDir())
	if err := r.ps.Set(-1, 8, []byte("value"), 0); err != nil {
		t.Fatal(err)
	}
	names, _ := r.its.List("")
	if len(names) != 1 {
		t.Fatalf("ITS holds %v", names)
	}
	p := filepath.Join(r.its.Dir(), names[0])
	b, _ := os.ReadFile(p)
	for n := 0; n < len(b); n++ {
		os.WriteFile(p, b[:n], 0o600)
		if _, err := r.ps.Get(-1, 8, 0, 100); !errors.Is(err, ipc.ErrDataCorrupt) {
			t.Fatalf("record prefix %d: %v", n, err)
		}
	}
	os.WriteFile(p, b, 0o600)
	if got, err := r.ps.Get(-1, 8, 0, 100); err != nil || string(got) != "value" {
		t.Fatalf("restored record: %q %v", got, err)
	}
}

// TestCreateSetExtended: psa_ps_create reserves a capacity, set_extended
// fills it without gaps, a reopened service reads what was written, and
// the refusals are the PSA statuses (psa-arch-tests s011-s017 run the same
// through the C library).
func TestCreateSetExtended(t *testing.T) {
	dir := t.TempDir()
	r := open(t, dir)
	srv := spe.New(spe.Options{})
	if err := r.ps.Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := srv.Local(-3)
	if err != nil {
		t.Fatal(err)
	}
	c := psaclient.NewPS(l)
	defer c.Close()
	if err := c.Create(7, 8, psa.StorageFlagWriteOnce); !errors.Is(err, ipc.ErrNotSupported) {
		t.Fatalf("create write-once: %v", err)
	}
	if err := c.SetExtended(7, 0, []byte("ab")); !errors.Is(err, ipc.ErrDoesNotExist) {
		t.Fatalf("set_extended before create: %v", err)
	}
	if err := c.Create(7, 8, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(7, 8, 0); !errors.Is(err, ipc.ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if info, err := c.GetInfo(7); err != nil || info.Capacity != 8 || info.Size != 0 {
		t.Fatalf("after create: %+v %v", info, err)
	}
	if err := c.SetExtended(7, 0, []byte("abcd")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		off  uint32
		data string
	}{{5, "x"}, {2, "1234567"}} { // a gap; past the capacity
		if err := c.SetExtended(7, bad.off, []byte(bad.data)); !errors.Is(err, ipc.ErrInvalidArgument) {
			t.Fatalf("set_extended %d %q: %v", bad.off, bad.data, err)
		}
	}
	if err := c.SetExtended(7, 2, []byte("CDEF")); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(8, 1<<30, 0); !errors.Is(err, ipc.ErrInsufficientStorage) {
		t.Fatalf("huge capacity: %v", err)
	}
	r2 := open(t, dir)
	srv2 := spe.New(spe.Options{})
	if err := r2.ps.Register(srv2); err != nil {
		t.Fatal(err)
	}
	l2, err := srv2.Local(-3)
	if err != nil {
		t.Fatal(err)
	}
	c2 := psaclient.NewPS(l2)
	defer c2.Close()
	got, err := c2.Get(7, 0, 16)
	info, ierr := c2.GetInfo(7)
	if err != nil || string(got) != "abCDEF" || ierr != nil || info.Capacity != 8 || info.Size != 6 {
		t.Fatalf("reopened: %q %v %+v %v", got, err, info, ierr)
	}
}
