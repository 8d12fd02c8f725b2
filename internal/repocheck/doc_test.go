package repocheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryPackageHasAComment walks the module and requires a package comment
// in at least one non-test file of every package (house style: each package
// says what it is for and what it must never do).
func TestEveryPackageHasAComment(t *testing.T) {
	root := "../.."
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			// third_party holds copies of other projects' modules
			// (third_party/mochi-mqtt-server): their style is theirs.
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || path == filepath.Join(root, "third_party")) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 3 {
		t.Fatalf("found only %d package directories; the walk is broken", len(dirs))
	}
	for dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		documented := false
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, n), nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				t.Errorf("%s: %v", n, err)
				continue
			}
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package in %s has no package comment", dir)
		}
	}
}

// TestDocumentsExist checks the files the README and the house style promise.
func TestDocumentsExist(t *testing.T) {
	for _, f := range []string{"README.md", "DEPENDENCIES.md", "docs/architecture.md", ".ci/run"} {
		if st, err := os.Stat(filepath.Join("../..", f)); err != nil || st.Size() == 0 {
			t.Errorf("%s is missing or empty", f)
		}
	}
}
