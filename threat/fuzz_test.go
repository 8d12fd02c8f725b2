package threat

import (
	"io"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the model loader and the checker,
// seeded with the templates and the malformed cases of the tests. Neither may
// panic; a model that loads must render in every report format (whatever
// its check errors: cycles, dangling references) and re-encode and load again.
//
// The templates are 10-16 KiB: minimizing each new interesting input byte by
// byte then takes minutes, so run with a bounded minimization, e.g.
//
//	go test -run XXX -fuzz FuzzParse -fuzzminimizetime 2s -fuzztime 3m ./threat
func FuzzParse(f *testing.F) {
	for _, name := range Templates() {
		data, _ := Template(name)
		f.Add(data)
	}
	for _, s := range []string{
		"rampart_threat_model: 1\ntitle: [unclosed\n",
		"- a\n",
		"rampart_threat_model: 1\ntitle: &t x\nversion: *t\n",
		"rampart_threat_model: 1\nthreats:\n  - id: T.X\n    cvss: CVSS:3.1/AV:N\n",
		"rampart_threat_model: 1\ntrust_boundaries:\n  - {id: A, name: a, parent: B}\n  - {id: B, name: b, parent: A}\n",
		"rampart_threat_model: 1\ntrust_boundaries:\n  - {id: A, name: a, parent: A}\ncomponents:\n  - {id: C, name: c, kind: process, boundary: A}\n  - {id: D, name: d, kind: external, boundary: Z}\ndata_flows:\n  - {id: F, from: C, to: D}\n  - {id: G, from: C, to: C}\n  - {id: H, from: D, to: X}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		a := Analyze(m)
		for _, f := range Formats {
			if err := WriteReport(io.Discard, a, f); err != nil {
				t.Fatalf("report %s: %v", f, err)
			}
		}
		_ = PartitionSVG(m, a.Partition)
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := Parse("again.yaml", out); err != nil {
			t.Fatalf("re-parse of a loaded model failed: %v\n%s", err, out)
		}
	})
}
