package its_test

import (
	"bytes"
	"errors"
	"testing"

	"rampart/flash"
	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
)

func flashITS(t *testing.T, d *flash.Device) *its.Service {
	t.Helper()
	fs, err := storage.OpenFlash(d, 0, 8192, storage.FlashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return its.New(fs, its.Limits{MaxAssetSize: 1024, MaxAssets: 4})
}

// TestOnFlash runs ITS on the flash model: its semantics, and a power cut
// at every flash write and erase of a run of replacements (compactions
// included) leaving each object old or new.
func TestOnFlash(t *testing.T) {
	d, err := flash.New(flash.Geometry{Sectors: []flash.SectorRun{{Size: 2048, Count: 4}}, WriteAlign: 4, ErasedValue: 0xff})
	if err != nil {
		t.Fatal(err)
	}
	s := flashITS(t, d)
	if err := s.Set(-1, 1, []byte("once"), psa.StorageFlagWriteOnce); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(-1, 1, []byte("twice"), 0); !errors.Is(err, ipc.ErrNotPermitted) {
		t.Fatalf("write-once on flash: %v", err)
	}
	if got, err := flashITS(t, d).Get(-1, 1, 0, 10); err != nil || string(got) != "once" {
		t.Fatalf("after reopen: %q %v", got, err)
	}

	val := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 500+i) }
	for k := 1; ; k++ {
		d, _ := flash.New(flash.Geometry{Sectors: []flash.SectorRun{{Size: 2048, Count: 4}}, WriteAlign: 4, ErasedValue: 0xff})
		s := flashITS(t, d)
		d.SetFault(&flash.Fault{CutBefore: k, Tear: true, TearNum: 1, TearDen: 3})
		last := -1
		for i := 0; i < 20; i++ {
			if err := s.Set(-1, 7, val(i), 0); err != nil {
				break
			}
			last = i
		}
		cut := d.PoweredOff()
		d.PowerOn()
		got, err := flashITS(t, d).Get(-1, 7, 0, 2000)
		switch {
		case last == -1 && errors.Is(err, ipc.ErrDoesNotExist):
		case err != nil:
			t.Fatalf("cut at flash op %d: %v", k, err)
		case !bytes.Equal(got, val(last)) && !bytes.Equal(got, val(last+1)):
			t.Fatalf("cut at flash op %d: neither value %d nor %d", k, last, last+1)
		}
		if !cut {
			break
		}
	}
}

// TestFlashFullIsInsufficientStorage: when the flash area cannot hold
// another object, set answers INSUFFICIENT_STORAGE (what a caller filling
// storage, as psa-arch-tests' s003 does, waits for), not STORAGE_FAILURE,
// and the objects already stored are intact. It failed when the full area
// was reported as a storage failure.
func TestFlashFullIsInsufficientStorage(t *testing.T) {
	d, err := flash.New(flash.Geometry{Sectors: []flash.SectorRun{{Size: 2048, Count: 4}}, WriteAlign: 4, ErasedValue: 0xff})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := storage.OpenFlash(d, 0, 8192, storage.FlashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := its.New(fs, its.Limits{MaxAssetSize: 1024, MaxAssets: 64})
	var full error
	n := 0
	for uid := psa.StorageUID(1); uid < 64; uid++ {
		if full = s.Set(-1, uid, bytes.Repeat([]byte{byte(uid)}, 1000), 0); full != nil {
			break
		}
		n++
	}
	if !errors.Is(full, ipc.ErrInsufficientStorage) || n == 0 {
		t.Fatalf("after %d objects: %v", n, full)
	}
	for uid := psa.StorageUID(1); uid <= psa.StorageUID(n); uid++ {
		if got, err := s.Get(-1, uid, 0, 1024); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(uid)}, 1000)) {
			t.Fatalf("uid %d after the refusal: %v", uid, err)
		}
	}
}
