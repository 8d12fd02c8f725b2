package flash

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func geom(align int, erased byte) Geometry {
	return Geometry{Sectors: []SectorRun{{Size: 1024, Count: 2}, {Size: 4096, Count: 2}}, WriteAlign: align, ErasedValue: erased}
}

func TestGeometryValidate(t *testing.T) {
	bad := []Geometry{
		{Sectors: []SectorRun{{1024, 1}}, WriteAlign: 3, ErasedValue: 0xFF},
		{Sectors: []SectorRun{{1024, 1}}, WriteAlign: 64, ErasedValue: 0xFF},
		{Sectors: []SectorRun{{1024, 1}}, WriteAlign: 8, ErasedValue: 0x7F},
		{Sectors: nil, WriteAlign: 8, ErasedValue: 0xFF},
		{Sectors: []SectorRun{{1020, 1}}, WriteAlign: 8, ErasedValue: 0xFF},
		{Sectors: []SectorRun{{1024, 0}}, WriteAlign: 8, ErasedValue: 0xFF},
		{Sectors: []SectorRun{{1 << 30, 1}}, WriteAlign: 8, ErasedValue: 0xFF},
	}
	for i, g := range bad {
		if _, err := New(g); !errors.Is(err, ErrGeometry) {
			t.Errorf("case %d: err = %v, want ErrGeometry", i, err)
		}
	}
	d, err := New(geom(8, 0xFF))
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 2*1024+2*4096 || len(d.Sectors()) != 4 || d.Sectors()[2].Off != 2048 {
		t.Fatalf("size %d sectors %v", d.Size(), d.Sectors())
	}
}

func TestWriteRules(t *testing.T) {
	for _, erased := range []byte{0xFF, 0x00} {
		for _, align := range []int{1, 8, 32} {
			d, _ := New(geom(align, erased))
			buf := make([]byte, 64)
			if err := d.Read(0, buf); err != nil || !bytes.Equal(buf, bytes.Repeat([]byte{erased}, 64)) {
				t.Fatalf("fresh device not erased to %#x", erased)
			}
			p := bytes.Repeat([]byte{0xA5}, align)
			if err := d.Write(0, p); err != nil {
				t.Fatal(err)
			}
			if err := d.Write(0, p); !errors.Is(err, ErrNotErased) {
				t.Fatalf("rewrite: %v", err)
			}
			if align > 1 {
				if err := d.Write(1, p); !errors.Is(err, ErrAlign) {
					t.Fatalf("misaligned offset: %v", err)
				}
				if err := d.Write(uint32(align), p[:align-1]); !errors.Is(err, ErrAlign) {
					t.Fatalf("misaligned length: %v", err)
				}
			}
			// Writing the erased value still programs the bytes.
			if err := d.Write(uint32(align), bytes.Repeat([]byte{erased}, align)); err != nil {
				t.Fatal(err)
			}
			if err := d.Write(uint32(align), bytes.Repeat([]byte{erased}, align)); !errors.Is(err, ErrNotErased) {
				t.Fatalf("rewrite of erased value: %v", err)
			}
			if err := d.Erase(0, 512); !errors.Is(err, ErrNotSectors) {
				t.Fatalf("partial erase: %v", err)
			}
			if err := d.Erase(0, 1024); err != nil {
				t.Fatal(err)
			}
			if err := d.Write(0, p); err != nil {
				t.Fatalf("write after erase: %v", err)
			}
			if err := d.Write(d.Size(), p); !errors.Is(err, ErrRange) {
				t.Fatalf("out of range: %v", err)
			}
		}
	}
}

func TestSectorsIn(t *testing.T) {
	d, _ := New(geom(8, 0xFF))
	s, err := d.SectorsIn(1024, 1024+4096)
	if err != nil || len(s) != 2 || s[1].Size != 4096 {
		t.Fatalf("%v %v", s, err)
	}
	if _, err := d.SectorsIn(1024, 2048); !errors.Is(err, ErrNotSectors) {
		t.Fatalf("%v", err)
	}
	if _, err := d.SectorsIn(100, 924); !errors.Is(err, ErrNotSectors) {
		t.Fatalf("%v", err)
	}
}

func TestFaultCutsBeforeOp(t *testing.T) {
	d, _ := New(geom(8, 0xFF))
	d.SetFault(&Fault{CutBefore: 2})
	p := bytes.Repeat([]byte{1}, 8)
	if err := d.Write(0, p); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(8, p); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("second op: %v", err)
	}
	if !d.PoweredOff() {
		t.Fatal("power still on")
	}
	if err := d.Read(0, p); !errors.Is(err, ErrPowerCut) {
		t.Fatalf("read while off: %v", err)
	}
	d.PowerOn()
	if ok, _ := d.IsErased(8, 8); !ok {
		t.Fatal("cut write was applied")
	}
	if ok, _ := d.IsErased(0, 8); ok {
		t.Fatal("first write lost")
	}
}

func TestFaultTears(t *testing.T) {
	d, _ := New(geom(1, 0xFF))
	d.SetFault(&Fault{CutBefore: 1, Tear: true, TearNum: 1, TearDen: 4})
	if err := d.Write(0, bytes.Repeat([]byte{0}, 16)); !errors.Is(err, ErrPowerCut) {
		t.Fatal(err)
	}
	d.PowerOn()
	buf := make([]byte, 16)
	d.Read(0, buf)
	if !bytes.Equal(buf[:4], make([]byte, 4)) || buf[4] != 0xFF {
		t.Fatalf("torn write: % x", buf)
	}
	if err := d.Write(0, []byte{0}); !errors.Is(err, ErrNotErased) {
		t.Fatal("torn bytes not marked programmed")
	}
	d.SetFault(&Fault{CutBefore: 1, Tear: true})
	if err := d.Erase(0, 1024); !errors.Is(err, ErrPowerCut) {
		t.Fatal(err)
	}
	d.PowerOn()
	if ok, _ := d.IsErased(0, 512); !ok {
		t.Fatal("first half of torn erase not erased")
	}
}

func TestFilePersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.flash")
	d, err := Create(path, geom(8, 0x00))
	if err != nil {
		t.Fatal(err)
	}
	p := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := d.Write(1024, p); err != nil {
		t.Fatal(err)
	}
	if err := d.Write(1032, make([]byte, 8)); err != nil { // programmed with the erased value
		t.Fatal(err)
	}
	d.Close()
	if _, err := Create(path, geom(8, 0)); err == nil {
		t.Fatal("Create overwrote an existing file")
	}
	e, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := make([]byte, 8)
	e.Read(1024, got)
	if !bytes.Equal(got, p) || e.ErasedValue() != 0 || e.WriteAlign() != 8 {
		t.Fatalf("reloaded % x", got)
	}
	if err := e.Write(1032, p); !errors.Is(err, ErrNotErased) {
		t.Fatalf("programmed state lost across reopen: %v", err)
	}
	if err := e.Erase(1024, 1024); err != nil {
		t.Fatal(err)
	}
	e.Close()
	f, _ := Open(path)
	defer f.Close()
	if ok, _ := f.IsErased(1024, 1024); !ok {
		t.Fatal("erase not persisted")
	}
}

func TestOpenRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	for name, b := range map[string][]byte{"short": []byte("RAMP"), "magic": []byte("XXXXXXXX\x00\x00\x00\x00"), "huge": []byte("RAMPFLS1\xff\xff\xff\xff")} {
		p := filepath.Join(dir, name)
		if err := writeFile(p, b); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p); !errors.Is(err, ErrFile) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestProgrammedTrackingAcrossWords exercises the word-at-a-time paths of
// the programmed bitmap with ranges that start and end inside words.
func TestProgrammedTrackingAcrossWords(t *testing.T) {
	d, _ := New(Geometry{Sectors: []SectorRun{{Size: 1024, Count: 2}}, WriteAlign: 1, ErasedValue: 0xFF})
	if err := d.Write(60, make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off, n uint32
		erased bool
	}{{0, 60, true}, {0, 61, false}, {259, 1, false}, {260, 700, true}, {64, 128, false}, {1024, 1024, true}} {
		if got, _ := d.IsErased(c.off, int(c.n)); got != c.erased {
			t.Errorf("IsErased(%d, %d) = %v", c.off, c.n, got)
		}
	}
	if err := d.Write(259, []byte{1}); !errors.Is(err, ErrNotErased) {
		t.Fatal(err)
	}
	if err := d.Erase(0, 1024); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.IsErased(0, 1024); !ok {
		t.Fatal("erase left programmed bits")
	}
}

func smallFile(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "dev.flash")
	d, err := Create(path, Geometry{Sectors: []SectorRun{{Size: 64, Count: 2}}, WriteAlign: 8, ErasedValue: 0xFF})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write(8, []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
		t.Fatal(err)
	}
	d.Close()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeviceFilePrefixesRejected(t *testing.T) {
	b := smallFile(t)
	if _, _, err := load(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, _, err := load(bytes.NewReader(b[:n])); err == nil {
			t.Fatalf("%d-byte prefix of a %d-byte device file loaded", n, len(b))
		}
	}
}

func FuzzLoadDeviceFile(f *testing.F) {
	f.Add(smallFile(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _, err := load(bytes.NewReader(b))
		if err != nil {
			return
		}
		// A loaded device is usable: its geometry validates and reads work.
		if _, err := d.Geometry().Validate(); err != nil {
			t.Fatal(err)
		}
		if err := d.Read(0, make([]byte, d.Size())); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCreatePrivate: a device file holds the device's internal trusted
// storage: it is created 0600, not 0644 as before.
func TestCreatePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.flash")
	d, err := Create(path, geom(8, 0xFF))
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != 0o600 {
		t.Fatalf("device file mode %v, want 0600", m)
	}
}
