package secfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// withUmask runs the test under umask 0, so that any mode the package
// leaves to the umask shows up as group or other access.
func withUmask(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// TestWriteFileReplacesLooseFile: a secret written over an existing 0644
// (or 0666) file ends up in a 0600 file, not in the old readable one, and
// no temporary file stays behind. os.WriteFile(path, data, 0o600) keeps the
// old mode, which is how `image keygen` left private keys readable.
func TestWriteFileReplacesLooseFile(t *testing.T) {
	withUmask(t)
	dir := t.TempDir()
	for _, old := range []os.FileMode{0o644, 0o666, 0o604, 0o400} {
		p := filepath.Join(dir, "key.pem")
		os.Remove(p)
		if err := os.WriteFile(p, []byte("public"), old); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(p, []byte("secret")); err != nil {
			t.Fatalf("over %v: %v", old, err)
		}
		if got := perm(t, p); got != FileMode {
			t.Errorf("over a %v file: mode %v, want %v", old, got, FileMode)
		}
		if b, _ := os.ReadFile(p); string(b) != "secret" {
			t.Errorf("over a %v file: content %q", old, b)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	// A new file, in the current directory form too.
	t.Chdir(dir)
	if err := WriteFile("new", []byte("x")); err != nil || perm(t, "new") != FileMode {
		t.Fatalf("new file: %v %v", err, perm(t, "new"))
	}
	// A missing directory is an error, and leaves nothing.
	if err := WriteFile(filepath.Join(dir, "no", "such"), []byte("x")); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

// TestOpenFileTightens: an existing readable file loses group and other
// access when opened; a new one is 0600.
func TestOpenFileTightens(t *testing.T) {
	withUmask(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "download.bin")
	if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(p, os.O_RDWR|os.O_CREATE)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := perm(t, p); got != 0o600 {
		t.Fatalf("existing 0644 file opened: mode %v, want 0600", got)
	}
	q := filepath.Join(dir, "new.bin")
	f, err = OpenFile(q, os.O_RDWR|os.O_CREATE|os.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := perm(t, q); got != FileMode {
		t.Fatalf("new file: mode %v", got)
	}
	if _, err := OpenFile(filepath.Join(dir, "absent"), os.O_RDONLY); err == nil {
		t.Fatal("opened a missing file without O_CREATE")
	}
}

// TestMkdirAllTightensOnlyItsDirectory: a missing directory is made 0700
// (parents too); an existing 0755 one is tightened to 0700; its existing
// parent is not touched.
func TestMkdirAllTightensOnlyItsDirectory(t *testing.T) {
	withUmask(t)
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b")
	if err := MkdirAll(deep); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "a"), deep} {
		if got := perm(t, d); got != DirMode {
			t.Errorf("%s: mode %v, want %v", d, got, DirMode)
		}
	}
	loose := filepath.Join(root, "data")
	if err := os.Mkdir(loose, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(loose); err != nil {
		t.Fatal(err)
	}
	if got := perm(t, loose); got != DirMode {
		t.Fatalf("existing 0755 directory: mode %v, want 0700", got)
	}
	if got := perm(t, root); got != 0o755 {
		t.Fatalf("parent changed to %v", got)
	}
	if err := Tighten(filepath.Join(root, "absent")); err != nil {
		t.Fatalf("Tighten of a missing path: %v", err)
	}
	// Tighten never loosens.
	if err := os.Chmod(loose, 0o500); err != nil {
		t.Fatal(err)
	}
	if err := Tighten(loose); err != nil || perm(t, loose) != 0o500 {
		t.Fatalf("Tighten changed a 0500 directory: %v %v", err, perm(t, loose))
	}
}

// TestCannotTighten: a path whose mode cannot be changed (here a procfs
// file, which even root may not chmod) is reported with ErrCannotTighten,
// so that a reader can tell it from other failures.
func TestCannotTighten(t *testing.T) {
	const p = "/proc/self/status" // 0444
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s: %v", p, err)
	}
	if err := Tighten(p); !errors.Is(err, ErrCannotTighten) {
		t.Fatalf("Tighten(%s) = %v, want ErrCannotTighten", p, err)
	}
	if _, err := OpenFile(p, os.O_RDONLY); !errors.Is(err, ErrCannotTighten) {
		t.Fatalf("OpenFile(%s) = %v, want ErrCannotTighten", p, err)
	}
}
