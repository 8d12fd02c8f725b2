package storage_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"testing"

	"rampart/flash"
	"rampart/spe/storage"
)

// testFlash is 1 spare sector, then a 4-sector storage area (two banks of 2).
func testFlash(t testing.TB, align int) *flash.Device {
	t.Helper()
	d, err := flash.New(flash.Geometry{Sectors: []flash.SectorRun{{Size: 1024, Count: 5}}, WriteAlign: align, ErasedValue: 0xff})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func openFlash(t testing.TB, d *flash.Device) *storage.FlashStore {
	t.Helper()
	fs, err := storage.OpenFlash(d, 1024, 4096, storage.FlashOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func contents(t testing.TB, fs *storage.FlashStore) map[string]string {
	t.Helper()
	names, _ := fs.List("")
	m := map[string]string{}
	for _, n := range names {
		b, err := fs.Get(n)
		if err != nil {
			t.Fatal(err)
		}
		m[n] = string(b)
	}
	return m
}

func TestFlashStoreBasics(t *testing.T) {
	d := testFlash(t, 8)
	fs := openFlash(t, d)
	if _, err := fs.Get("a"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("get missing: %v", err)
	}
	for i := 0; i < 40; i++ { // enough to compact several times
		if err := fs.Put(fmt.Sprintf("k%d", i%5), bytes.Repeat([]byte{byte(i)}, 300)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if err := fs.Delete("k1"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Delete("k1"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("delete twice: %v", err)
	}
	want := contents(t, fs)
	if len(want) != 4 {
		t.Fatalf("%d objects", len(want))
	}
	if got := contents(t, openFlash(t, d)); !maps.Equal(got, want) {
		t.Fatal("reopened store differs")
	}
	if err := fs.Put("big", make([]byte, 3000)); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("oversized: %v", err)
	}
	if got := contents(t, openFlash(t, d)); !maps.Equal(got, want) {
		t.Fatal("a refused put changed the store")
	}
	if err := fs.Destroy(); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, openFlash(t, d)); len(got) != 0 {
		t.Fatalf("after destroy: %v", got)
	}
	if _, err := storage.OpenFlash(d, 1024, 3072, storage.FlashOptions{}); err == nil {
		t.Fatal("odd sector count accepted")
	}
}

type fsOp struct {
	del  bool
	name string
	val  string
}

// TestFlashStorePowerCut cuts the power before every flash write and erase
// (tearing it) of a run of puts and deletes that compacts several times;
// after each cut the reopened store holds exactly the acknowledged objects,
// or those plus the operation in flight.
func TestFlashStorePowerCut(t *testing.T) {
	var ops []fsOp
	for i := 0; i < 24; i++ {
		ops = append(ops, fsOp{name: fmt.Sprintf("o%d", i%4), val: fmt.Sprintf("%03d", i) + string(bytes.Repeat([]byte{'x'}, 250+i))})
		if i%5 == 4 {
			ops = append(ops, fsOp{del: true, name: fmt.Sprintf("o%d", i%4)})
		}
	}
	apply := func(m map[string]string, op fsOp) map[string]string {
		n := maps.Clone(m)
		if op.del {
			delete(n, op.name)
		} else {
			n[op.name] = op.val
		}
		return n
	}
	for _, align := range []int{1, 8} {
		for k := 1; ; k++ {
			d := testFlash(t, align)
			fs := openFlash(t, d)
			d.SetFault(&flash.Fault{CutBefore: k, Tear: true, TearNum: 1, TearDen: 2})
			acked := map[string]string{}
			var inflight map[string]string
			for _, op := range ops {
				var err error
				if op.del {
					err = fs.Delete(op.name)
				} else {
					err = fs.Put(op.name, []byte(op.val))
				}
				if err != nil {
					inflight = apply(acked, op)
					break
				}
				acked = apply(acked, op)
			}
			cut := d.PoweredOff()
			d.PowerOn()
			got := contents(t, openFlash(t, d))
			if !maps.Equal(got, acked) && (inflight == nil || !maps.Equal(got, inflight)) {
				t.Fatalf("align %d, cut at op %d: store holds %d objects, neither the acknowledged %d nor the in-flight state", align, k, len(got), len(acked))
			}
			// The store keeps working after the cut.
			fs2 := openFlash(t, d)
			if err := fs2.Put("after", []byte("cut")); err != nil {
				t.Fatalf("align %d, cut at op %d: put after reboot: %v", align, k, err)
			}
			if !cut {
				if k < 30 {
					t.Fatalf("only %d flash operations", k)
				}
				break
			}
		}
	}
}

// FuzzOpenFlash opens a store over hostile bank contents: it must not
// panic, and whatever it loads must survive a put and a reopen.
func FuzzOpenFlash(f *testing.F) {
	d := testFlash(f, 8)
	fs := openFlash(f, d)
	fs.Put("seed", []byte("value"))
	img := make([]byte, 4096)
	d.Read(1024, img)
	f.Add(img[:256])
	f.Add([]byte("RFS1\x01\x00\x00\x00garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := testFlash(t, 1)
		if len(b) > 4096 {
			b = b[:4096]
		}
		if err := d.Write(1024, b); err != nil {
			return
		}
		fs, err := storage.OpenFlash(d, 1024, 4096, storage.FlashOptions{})
		if err != nil {
			return
		}
		err = fs.Put("x", []byte("y"))
		if err != nil && !errors.Is(err, storage.ErrNoSpace) {
			t.Fatal(err)
		}
		if got, gerr := openFlash(t, d).Get("x"); err == nil && (gerr != nil || string(got) != "y") {
			t.Fatalf("acknowledged put reads back %q, %v", got, gerr)
		}
	})
}
