package attest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden claim encodings in testdata")

// TestGoldenPayloads pins Rampart's deterministic encoding of one claim set
// in each profile (testdata/golden-*.cbor; regenerate with -update). Any
// change to the wire format shows up here.
func TestGoldenPayloads(t *testing.T) {
	for _, p := range Profiles {
		c := sampleClaims(p)
		c.InstanceID = append([]byte{1}, seq(32, 0xc0)...)
		got, err := c.MarshalPayload()
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join("testdata", "golden-"+strings.NewReplacer(":", "_", "/", "_", "#", "_", ",", "_").Replace(string(p))+".cbor")
		if *update {
			if err := os.WriteFile(name, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: encoding changed (run with -update if intended)", p)
		}
		back, err := UnmarshalPayload(want)
		if err != nil || !back.Equal(c) {
			t.Fatalf("%s: golden does not decode to the claims: %v", p, err)
		}
	}
}
