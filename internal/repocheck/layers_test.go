package repocheck

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The import rules live in one place: the table under "## Import rules" in
// docs/architecture.md. This test reads that table and checks every import of
// every non-test Go file of the module against it, so the document that
// explains the layering is also the rule that enforces it.

const module = "rampart"

// rule is one row of the table: packages matching From may import only
// rampart packages matching Only (when Only is set), and never one
// matching Not.
type rule struct {
	line      int
	from      []string
	only, not []string
	onlySet   bool
	why       string
}

// edge is one import of one file.
type edge struct {
	file     string // relative to the module root
	line     int
	from, to string // package paths relative to the module ("agent", "fleet/ca")
}

// TestImportRules fails with file:line for every import the table forbids.
func TestImportRules(t *testing.T) {
	root := "../.."
	rules, err := readRules(filepath.Join(root, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) < 8 {
		t.Fatalf("docs/architecture.md: only %d import rules found; the table is broken", len(rules))
	}
	edges, pkgs, err := moduleEdges(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) < 50 {
		t.Fatalf("found only %d imports; the walk is broken", len(edges))
	}
	for _, v := range violations(rules, edges) {
		t.Error(v)
	}
	for _, r := range rules {
		if !r.matchesAny(pkgs) {
			t.Errorf("docs/architecture.md:%d: the rule for %v matches no package: remove or fix it", r.line, r.from)
		}
	}
}

// TestImportRulesCatchAPlantedImport plants forbidden edges and requires
// each to be reported with its file and line: a checker that reports
// nothing would otherwise pass the real tree.
func TestImportRulesCatchAPlantedImport(t *testing.T) {
	rules, err := readRules("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	planted := []edge{
		{file: "agent/planted.go", line: 7, from: "agent", to: "fleet/ca"},
		{file: "fleet/campaign/planted.go", line: 9, from: "fleet/campaign", to: "agent"},
		{file: "spe/crypto/planted.go", line: 3, from: "spe/crypto", to: "psaclient"},
		{file: "image/planted.go", line: 5, from: "image", to: "boot"},
		{file: "fleet/planted.go", line: 4, from: "fleet", to: "cli"},
		{file: "psa/planted.go", line: 4, from: "psa", to: "spe"},
	}
	for _, e := range planted {
		v := violations(rules, []edge{e})
		if len(v) == 0 {
			t.Errorf("planted import %s -> %s was not reported", e.from, e.to)
			continue
		}
		if want := fmt.Sprintf("%s:%d:", e.file, e.line); !strings.HasPrefix(v[0], want) {
			t.Errorf("report %q does not start with %q", v[0], want)
		}
	}
	allowed := edge{file: "agent/ok.go", line: 1, from: "agent", to: "deviceproto"}
	if v := violations(rules, []edge{allowed}); len(v) != 0 {
		t.Errorf("an allowed import was reported: %v", v)
	}
}

func violations(rules []rule, edges []edge) []string {
	var out []string
	for _, e := range edges {
		for _, r := range rules {
			if !matchAny(r.from, e.from) {
				continue
			}
			switch {
			case matchAny(r.not, e.to):
				out = append(out, fmt.Sprintf("%s:%d: %s imports %s, which docs/architecture.md:%d forbids: %s", e.file, e.line, e.from, e.to, r.line, r.why))
			case r.onlySet && !matchAny(r.only, e.to):
				out = append(out, fmt.Sprintf("%s:%d: %s imports %s; docs/architecture.md:%d allows only %s: %s", e.file, e.line, e.from, e.to, r.line, strings.Join(r.only, ", "), r.why))
			}
		}
	}
	return out
}

func (r rule) matchesAny(pkgs map[string]bool) bool {
	for p := range pkgs {
		if matchAny(r.from, p) {
			return true
		}
	}
	return false
}

// match reports whether pkg matches pattern: "fleet/..." is fleet and
// everything under it, "*" is every package, anything else is one package.
func match(pattern, pkg string) bool {
	if pattern == "*" {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// matchAny reports whether pkg matches one of patterns and none of the
// exclusions among them ("!cli" takes cli out of a "*").
func matchAny(patterns []string, pkg string) bool {
	in := false
	for _, p := range patterns {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if match(ex, pkg) {
				return false
			}
			continue
		}
		in = in || match(p, pkg)
	}
	return in
}

// readRules parses the Markdown table that follows the "## Import rules"
// heading: | package | may import only | must not import | why |, package
// names in backquotes, "—" for an empty cell, "nothing" for no rampart
// package at all.
func readRules(path string) ([]rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rules []rule
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Import rules"
			continue
		case !in || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| package"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("%s:%d: an import rule needs 4 cells, not %d", path, n, len(cells))
		}
		r := rule{line: n, from: names(cells[0]), only: names(cells[1]), not: names(cells[2]), why: strings.TrimSpace(cells[3])}
		only := strings.TrimSpace(cells[1])
		r.onlySet = only != "—" && only != ""
		if len(r.from) == 0 || r.why == "" || (!r.onlySet && len(r.not) == 0) {
			return nil, fmt.Errorf("%s:%d: an import rule needs packages, a limit and a reason", path, n)
		}
		rules = append(rules, r)
	}
	return rules, sc.Err()
}

// names returns the backquoted package patterns of a cell.
func names(cell string) []string {
	var out []string
	parts := strings.Split(cell, "`")
	for i := 1; i < len(parts); i += 2 {
		out = append(out, strings.TrimSpace(parts[i]))
	}
	return out
}

// moduleEdges lists every rampart import of every non-test Go file, and
// every package with a non-test file.
func moduleEdges(root string) ([]edge, map[string]bool, error) {
	var edges []edge
	pkgs := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		from := filepath.ToSlash(filepath.Dir(rel))
		pkgs[from] = true
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			to, ok := strings.CutPrefix(p, module+"/")
			if !ok {
				continue
			}
			edges = append(edges, edge{file: filepath.ToSlash(rel), line: fset.Position(imp.Pos()).Line, from: from, to: to})
		}
		return nil
	})
	sort.Slice(edges, func(i, j int) bool { return edges[i].file < edges[j].file })
	return edges, pkgs, err
}
