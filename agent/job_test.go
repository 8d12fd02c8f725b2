package agent

import (
	"bytes"
	"strings"
	"testing"
)

// sampleJob is the job message of docs/agent.md.
const sampleJob = `{"id":"rollout-2.0.0","version":"2.0.0","url":"https://fleet.example:8445/images/v2.bin","size":4843,"sha256":"5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615"}`

func TestJobRoundTrip(t *testing.T) {
	j, err := ParseJob([]byte(sampleJob))
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, []byte(sampleJob)) {
		t.Fatalf("round trip:\n%s\n%s", b, sampleJob)
	}
	j2, err := ParseJob(b)
	if err != nil || j2 != j {
		t.Fatalf("parse(marshal(x)) = %+v, %v", j2, err)
	}
}

func TestJobTruncated(t *testing.T) {
	for i := range len(sampleJob) {
		if _, err := ParseJob([]byte(sampleJob[:i])); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
}

func TestJobHostile(t *testing.T) {
	cases := map[string]string{
		"empty id":     strings.Replace(sampleJob, `"rollout-2.0.0"`, `""`, 1),
		"long id":      strings.Replace(sampleJob, `"rollout-2.0.0"`, `"`+strings.Repeat("x", 129)+`"`, 1),
		"bad version":  strings.Replace(sampleJob, `"2.0.0"`, `"two"`, 1),
		"file url":     strings.Replace(sampleJob, "https://fleet.example:8445", "file://", 1),
		"no host":      strings.Replace(sampleJob, "https://fleet.example:8445", "https://", 1),
		"zero size":    strings.Replace(sampleJob, `4843`, `0`, 1),
		"negative":     strings.Replace(sampleJob, `4843`, `-1`, 1),
		"huge size":    strings.Replace(sampleJob, `4843`, `1099511627776`, 1),
		"short digest": strings.Replace(sampleJob, `5f1d4ee3`, ``, 1),
		"non-hex":      strings.Replace(sampleJob, `5f1d4ee3`, `zzzzzzzz`, 1),
		"not json":     "\x00\x01",
		"array":        "[]",
		"oversized":    `{"id":"` + strings.Repeat("a", MaxJobSize) + `"}`,
	}
	for name, in := range cases {
		if _, err := ParseJob([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "agent: job") {
			t.Errorf("%s: error %q lacks the package and field", name, err)
		}
	}
}

func FuzzParseJob(f *testing.F) {
	f.Add([]byte(sampleJob))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ParseJob(b)
		if err != nil {
			return
		}
		out, err := j.Marshal()
		if err != nil {
			t.Fatalf("valid job does not marshal: %v", err)
		}
		j2, err := ParseJob(out)
		if err != nil || j2 != j {
			t.Fatalf("round trip: %+v %v", j2, err)
		}
	})
}
