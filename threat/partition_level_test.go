package threat

import "testing"

// TestPartitionLevels: the PSA RoT needs level 1 alone, 2 beside an
// application RoT partition; one application RoT partition needs 2, two
// need 3.
func TestPartitionLevels(t *testing.T) {
	assets := []Asset{
		{ID: "D.KEYS", Kind: AssetDevice, Needs: Needs{Confidentiality: "high", Integrity: "high"}},
		{ID: "D.READINGS", Kind: AssetApplication, Needs: Needs{Integrity: "high"}},
		{ID: "D.ORDERS", Kind: AssetApplication, Needs: Needs{Integrity: "high"}},
	}
	crypto := Component{ID: "C.CRYPTO", Kind: KindProcess, Holds: []Ref{{ID: "D.KEYS"}}}
	sensor := Component{ID: "C.SENSOR", Kind: KindProcess, Protects: []Ref{{ID: "D.READINGS"}}}
	valve := Component{ID: "C.VALVE", Kind: KindProcess, Protects: []Ref{{ID: "D.ORDERS"}}}
	app := Component{ID: "C.APP", Kind: KindProcess, Holds: []Ref{{ID: "D.READINGS"}}}
	for _, tc := range []struct {
		name  string
		comps []Component
		want  map[string]int
		level int
	}{
		{"PSA RoT alone", []Component{crypto, app}, map[string]int{"C.CRYPTO": 1, "C.APP": 0}, 1},
		{"one application partition", []Component{crypto, sensor, app}, map[string]int{"C.CRYPTO": 2, "C.SENSOR": 2}, 2},
		{"two application partitions", []Component{crypto, sensor, valve}, map[string]int{"C.CRYPTO": 2, "C.SENSOR": 3, "C.VALVE": 3}, 3},
	} {
		ps := Partition(&Model{Assets: assets, Components: tc.comps})
		for _, p := range ps {
			if want, ok := tc.want[p.Component]; ok && p.Level != want {
				t.Errorf("%s: %s needs level %d (%s, %s), want %d", tc.name, p.Component, p.Level, p.Root, p.LevelReason, want)
			}
		}
		if got := IsolationLevel(ps); got != tc.level {
			t.Errorf("%s: level %d, want %d", tc.name, got, tc.level)
		}
	}
	ps := Partition(&Model{Assets: assets, Components: []Component{crypto, sensor}})
	if ps[0].Root != RootPSA || ps[1].Root != RootApplication {
		t.Errorf("roots: %s %s", ps[0].Root, ps[1].Root)
	}
}
