package threat

import "testing"

func TestTemplatesCheckClean(t *testing.T) {
	names := Templates()
	if len(names) < 3 {
		t.Fatalf("want at least 3 templates, got %v", names)
	}
	for _, name := range names {
		data, err := Template(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(name+".yaml", data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, f := range Check(m) {
			t.Errorf("%s", f)
		}
	}
}
