//go:build unix

package flash

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestMappedMatchesMemory runs the same writes, erases and torn writes on a
// mapped file-backed device and on an in-memory one, for both erased
// values: each operation must succeed or fail alike, and the contents and
// programmed state must match, read through the mapping, read from the
// file beside it before Close (a store is in the file when it returns),
// and after a reopen.
func TestMappedMatchesMemory(t *testing.T) {
	for _, erased := range []byte{0x00, 0xff} {
		g := Geometry{Sectors: []SectorRun{{Size: 4096, Count: 96}}, WriteAlign: 8, ErasedValue: erased}
		path := filepath.Join(t.TempDir(), "big.flash")
		m, err := Create(path, g)
		if err != nil {
			t.Fatal(err)
		}
		if m.backing == nil || m.backing.mapped == nil {
			t.Fatalf("erased %#x: a %d KiB device is not mapped", erased, m.Size()>>10)
		}
		ref, _ := New(g)
		rng := rand.New(rand.NewPCG(1, uint64(erased)))
		for op := range 600 {
			var e1, e2 error
			if rng.IntN(4) == 0 {
				s := uint32(rng.IntN(94)) * 4096
				n := 4096 * uint32(1+rng.IntN(2))
				e1, e2 = m.Erase(s, n), ref.Erase(s, n)
			} else {
				p := make([]byte, 8*(1+rng.IntN(64)))
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				off := uint32(rng.IntN(int(m.Size())-len(p))) / 8 * 8
				if op%40 == 7 {
					f := Fault{CutBefore: 1, Tear: true, TearNum: 1, TearDen: 3}
					m.SetFault(&f)
					ref.SetFault(&f)
				}
				e1, e2 = m.Write(off, p), ref.Write(off, p)
				m.PowerOn()
				ref.PowerOn()
			}
			if (e1 == nil) != (e2 == nil) {
				t.Fatalf("erased %#x, op %d: mapped %v, in memory %v", erased, op, e1, e2)
			}
		}
		same(t, m, ref, "through the mapping")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		onDisk, _, err := load(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		same(t, onDisk, ref, "read from the file before Close")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		same(t, again, ref, "after a reopen")
		again.Close()
	}
}

// same fails unless d and ref hold the same bytes and programmed state.
func same(t *testing.T, d, ref *Device, what string) {
	t.Helper()
	a, b := make([]byte, d.Size()), make([]byte, ref.Size())
	if err := d.Read(0, a); err != nil {
		t.Fatal(err)
	}
	ref.Read(0, b)
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: contents differ from the in-memory device", what)
	}
	for off := uint32(0); off < d.Size(); off += 8 {
		e1, _ := d.IsErased(off, 8)
		e2, _ := ref.IsErased(off, 8)
		if e1 != e2 {
			t.Fatalf("%s: programmed state differs at %#x", what, off)
		}
	}
}

// TestMappedCreateIsSparse: a large device whose erased value is 0 costs
// no disk until written; an erase of never-programmed sectors, and the
// erased value programmed into them (a swap moving the erased part of a
// slot), write nothing. Ten thousand
// simulated devices with 1 MiB slots would otherwise hold 2.4 MB of disk
// each.
func TestMappedCreateIsSparse(t *testing.T) {
	g := Geometry{Sectors: []SectorRun{{Size: 4096, Count: 512}}, WriteAlign: 8, ErasedValue: 0}
	path := filepath.Join(t.TempDir(), "sparse.flash")
	d, err := Create(path, g)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	used := func(what string, most int64) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if u := st.Blocks * 512; u > most {
			t.Fatalf("%s: the 2 MiB device uses %d KiB of disk, want at most %d", what, u>>10, most>>10)
		}
	}
	if err := d.Erase(0, d.Size()); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(0, make([]byte, 1<<20)); err != nil { // the erased value, programmed
		t.Fatal(err)
	}
	if err := d.Write(1<<20, bytes.Repeat([]byte{7}, 512<<10)); err != nil {
		t.Fatal(err)
	}
	used("512 KiB written", 512<<10+256<<10) // and the programmed bitmap (a bit a byte)
	if err := d.Erase(1<<20, 512<<10); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.IsErased(1<<20, 512<<10); !ok {
		t.Fatal("erased range reads programmed")
	}
	got := make([]byte, 512<<10)
	d.Read(1<<20, got)
	if !bytes.Equal(got, make([]byte, len(got))) {
		t.Fatal("erased range does not read as the erased value")
	}
}
