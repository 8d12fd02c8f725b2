package repocheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// publicOutputs are the functions allowed to create files or directories
// with os calls instead of internal/secfile, because what they write is
// meant to be read by others (a signed image, an endorsement list of
// public keys, a report). Keyed by file and enclosing function; each says
// why. A key, a token, a database, device state or a directory that holds
// any of them goes through secfile (0600 files renamed into place, 0700
// directories tightened), never through these.
var publicOutputs = map[string]string{
	"capi/build.go:Build":                     "an installed C library and its pkg-config file, read by every compiler",
	"capi/build.go:installHeaders":            "the PSA C headers, read by every compiler",
	"cli/attest_create.go:newAttestCreateCmd": "an attestation token: signed claims the verifier reads",
	"cli/boot_run.go:newBootRunCmd":           "boot records: the measurements attestation reports",
	"cli/certify.go:newCertifyCmd":            "an assessment report",
	"cli/fleet.go:newFleetEndorsementsCmd":    "a signed endorsement list: device public keys",
	"cli/image.go:imageOutput":                "public keys and key hashes (getpub, getpubhash) and image dumps",
	"cli/image.go:imageWriteFile":             "signed images and signatures (keys use secfile.WriteFile)",
	"cli/spe_attest.go:newSpeAttestCmd":       "an attestation token",
	"cli/spe_provision.go:newSpeProvisionCmd": "endorsement lists: device public keys",
	"cli/spe_trace.go:newSpeTraceRenderCmd":   "a sequence diagram of a trace: calls and statuses, never a call's data",
	"spe/platform/users.go:asUser":            "apps_dir, which the partitions' users may only search (0711); each partition's directory in it is 0700",
	"spe/platform/users.go:prepareUsers":      "the state directory's root with a user per PRoT process: 0711 so each process's user may only search it; each directory in it is 0700, owned by its process",
	"cli/threat.go:newThreatInitCmd":          "a threat model document",
	"cli/threat.go:threatOutput":              "a threat model document",
	"cli/zone.go:newZoneGenerateCmd":          "generated headers and linker scripts",
	"cli/zone_import.go:newZoneImportCmd":     "a zone description",
}

// notScanned are directories the scan skips: secfile itself, which is
// where the os calls belong.
var notScanned = []string{"internal/secfile"}

// TestSecretsWrittenPrivately: outside the public outputs above, no code
// creates a file or directory with os.WriteFile, os.Create, os.MkdirAll,
// os.OpenFile with O_CREATE (unless O_EXCL with mode 0600: a new file of
// exactly that mode) or os.Mkdir with a mode other than 0700. Those calls
// keep an existing file's or directory's mode, which is how `image keygen`
// left a private key readable and how fleet.db and data_dir stayed 0644
// and 0755; internal/secfile writes 0600 whatever existed.
func TestSecretsWrittenPrivately(t *testing.T) {
	root := "../.."
	used := map[string]bool{}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			for _, n := range notScanned {
				if rel == n {
					return filepath.SkipDir
				}
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil && path != root {
				return filepath.SkipDir // another module (fleet/brokerbench)
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		files++
		for _, c := range creatingCalls(t, path) {
			key := rel + ":" + c.fn
			if _, ok := publicOutputs[key]; ok {
				used[key] = true
				continue
			}
			t.Errorf("%s:%d: %s in %s: use internal/secfile (or, for output meant to be public, list it in publicOutputs with why)", rel, c.line, c.call, c.fn)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("scanned only %d files; the walk is broken", files)
	}
	var stale []string
	for k := range publicOutputs {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(stale)
	for _, k := range stale {
		t.Errorf("publicOutputs lists %s, which creates nothing any more: remove it", k)
	}
}

type creatingCall struct {
	fn, call string
	line     int
}

// creatingCalls lists the os calls in one file that create a file or
// directory keeping the mode of whatever already exists there.
func creatingCalls(t *testing.T, path string) []creatingCall {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []creatingCall
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
				return true
			}
			if flagged(sel.Sel.Name, call) {
				out = append(out, creatingCall{fn: fd.Name.Name, call: "os." + sel.Sel.Name, line: fset.Position(call.Pos()).Line})
			}
			return true
		})
	}
	return out
}

func flagged(name string, call *ast.CallExpr) bool {
	switch name {
	case "WriteFile", "Create", "MkdirAll":
		return true
	case "Mkdir":
		return len(call.Args) != 2 || !isMode(call.Args[1], 0o700)
	case "OpenFile":
		if len(call.Args) != 3 {
			return true
		}
		flags := identsIn(call.Args[1])
		if !flags["O_CREATE"] {
			return false // opens an existing file: creates nothing
		}
		return !(flags["O_EXCL"] && isMode(call.Args[2], 0o600))
	}
	return false
}

// isMode reports whether e is the integer literal want (0o600, 0600, 384).
func isMode(e ast.Expr, want int64) bool {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.INT {
		return false
	}
	var v int64
	s := strings.ReplaceAll(strings.ToLower(lit.Value), "_", "")
	switch {
	case strings.HasPrefix(s, "0o"):
		s = s[2:]
		fallthrough
	case len(s) > 1 && s[0] == '0':
		for _, c := range s {
			v = v*8 + int64(c-'0')
		}
	default:
		for _, c := range s {
			v = v*10 + int64(c-'0')
		}
	}
	return v == want
}

// identsIn collects the identifiers of an expression such as
// os.O_RDWR|os.O_CREATE|os.O_EXCL. A flags variable hides them: such a
// call counts as creating (flagged unless listed).
func identsIn(e ast.Expr) map[string]bool {
	m := map[string]bool{}
	ast.Inspect(e, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			m[x.Sel.Name] = true
		case *ast.Ident:
			m[x.Name] = true
		}
		return true
	})
	if len(m) == 1 || !m["os"] {
		m["O_CREATE"] = true // not a spelled-out flag expression: assume it creates
	}
	return m
}
