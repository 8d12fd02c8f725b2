package deviceproto

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// sampleProgress is the progress message of docs/agent.md.
const sampleProgress = `{"job":"rollout-2.0.0","progress":"rebooted","version":"2.0.0"}`

func TestProgressRoundTrip(t *testing.T) {
	p, err := ParseProgress([]byte(sampleProgress))
	if err != nil {
		t.Fatal(err)
	}
	if p.JobID != "rollout-2.0.0" || p.Progress != ProgressRebooted || p.Version != "2.0.0" {
		t.Fatalf("parsed %+v", p)
	}
	b, _ := json.Marshal(p)
	if !bytes.Equal(b, []byte(sampleProgress)) {
		t.Fatalf("round trip:\n%s\n%s", b, sampleProgress)
	}
}

func TestProgressTruncated(t *testing.T) {
	for i := range len(sampleProgress) {
		if _, err := ParseProgress([]byte(sampleProgress[:i])); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
}

func TestProgressHostile(t *testing.T) {
	cases := map[string]string{
		"empty job":   strings.Replace(sampleProgress, `"rollout-2.0.0"`, `""`, 1),
		"long job":    strings.Replace(sampleProgress, `"rollout-2.0.0"`, `"`+strings.Repeat("x", 129)+`"`, 1),
		"verified":    strings.Replace(sampleProgress, `"rebooted"`, `"verified"`, 1),
		"downloaded":  strings.Replace(sampleProgress, `"rebooted"`, `"downloaded"`, 1),
		"no progress": `{"job":"j"}`,
		"number":      `{"job":"j","progress":5}`,
		"not json":    "\x00\x01",
		"array":       "[]",
		"oversized":   `{"job":"j","progress":"installing","version":"` + strings.Repeat("a", MaxProgressSize) + `"}`,
	}
	for name, in := range cases {
		if _, err := ParseProgress([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "deviceproto: progress") {
			t.Errorf("%s: error %q lacks the package and field", name, err)
		}
	}
}

func FuzzParseProgress(f *testing.F) {
	f.Add([]byte(sampleProgress))
	f.Add([]byte(`{"job":"j","progress":"installing"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseProgress(b)
		if err != nil {
			return
		}
		out, _ := json.Marshal(p)
		p2, err := ParseProgress(out)
		if err != nil || p2 != p {
			t.Fatalf("round trip: %+v %v", p2, err)
		}
	})
}
