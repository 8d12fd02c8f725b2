package deviceproto

import (
	"encoding/json"
	"strings"
	"testing"
)

// samplePayload is the job payload of docs/agent.md.
const samplePayload = `{"id":"rollout-2.0.0","version":"2.0.0","url":"https://fleet.example:8443/images/5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615?device=dev-a\u0026token=00","size":4843,"sha256":"5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615","device":"dev-a","nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=","issued":1795600000000,"expires":1796204800000}`

func TestJobPayloadRoundTrip(t *testing.T) {
	j, err := parseJobPayload([]byte(samplePayload))
	if err != nil {
		t.Fatal(err)
	}
	b, err := j.marshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != samplePayload {
		t.Fatalf("round trip:\n%s\n%s", b, samplePayload)
	}
	j2, err := parseJobPayload(b)
	if err != nil || !j2.Equal(j) {
		t.Fatalf("parse(marshal(x)) = %+v, %v", j2, err)
	}
}

func TestJobPayloadTruncated(t *testing.T) {
	for i := range len(samplePayload) {
		if _, err := parseJobPayload([]byte(samplePayload[:i])); err == nil {
			t.Fatalf("prefix of %d bytes accepted", i)
		}
	}
}

func TestJobPayloadHostile(t *testing.T) {
	cases := map[string]string{
		"empty id":       strings.Replace(samplePayload, `"rollout-2.0.0"`, `""`, 1),
		"long id":        strings.Replace(samplePayload, `"rollout-2.0.0"`, `"`+strings.Repeat("x", 129)+`"`, 1),
		"bad version":    strings.Replace(samplePayload, `"2.0.0"`, `"two"`, 1),
		"file url":       strings.Replace(samplePayload, "https://fleet.example:8443", "file://", 1),
		"http url":       strings.Replace(samplePayload, "https://", "http://", 1),
		"user in url":    strings.Replace(samplePayload, "https://", "https://u:p@", 1),
		"no host":        strings.Replace(samplePayload, "https://fleet.example:8443", "https://", 1),
		"zero size":      strings.Replace(samplePayload, `4843`, `0`, 1),
		"negative":       strings.Replace(samplePayload, `4843`, `-1`, 1),
		"huge size":      strings.Replace(samplePayload, `4843`, `1099511627776`, 1),
		"short digest":   strings.Replace(samplePayload, `"5f1d4ee3`, `"`, 1),
		"non-hex":        strings.Replace(samplePayload, `"5f1d4ee3`, `"zzzzzzzz`, 1),
		"no device":      strings.Replace(samplePayload, `"device":"dev-a",`, ``, 1),
		"control device": strings.Replace(samplePayload, `"dev-a"`, `"dev\u0000a"`, 1),
		"no nonce":       strings.Replace(samplePayload, `"nonce":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",`, ``, 1),
		"short nonce":    strings.Replace(samplePayload, `"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="`, `"AAEC"`, 1),
		"no issued":      strings.Replace(samplePayload, `"issued":1795600000000,`, ``, 1),
		"expires first":  strings.Replace(samplePayload, `1796204800000`, `1795500000000`, 1),
		"unknown member": strings.Replace(samplePayload, `{"id"`, `{"extra":1,"id"`, 1),
		"trailing data":  samplePayload + `{}`,
		"not json":       "\x00\x01",
		"array":          "[]",
		"oversized":      `{"id":"` + strings.Repeat("a", maxJobPayload) + `"}`,
	}
	for name, in := range cases {
		if _, err := parseJobPayload([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "deviceproto: job") {
			t.Errorf("%s: error %q lacks the package and field", name, err)
		}
	}
}

// TestStoredJobOfAnOlderAgent: a job persisted before jobs were signed (no
// device, nonce or times; maybe plain http) still loads, so that the new
// image's agent can finish the update that installed it; download checks
// its URL again (TestDownloadRefusesPlainHTTPAndRedirects).
func TestStoredJobOfAnOlderAgent(t *testing.T) {
	var j Job
	old := `{"id":"rollout-2.0.0","version":"2.0.0","url":"http://updates.example/v2.bin","size":4843,"sha256":"5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615"}`
	if err := json.Unmarshal([]byte(old), &j); err != nil {
		t.Fatal(err)
	}
	if err := j.CheckImage(); err != nil {
		t.Fatalf("stored job of an older agent: %v", err)
	}
	if err := j.Validate(); err == nil {
		t.Fatal("an unsigned-era job passes the signed job's validation")
	}
}

// FuzzJobPayload: a payload either fails to parse, or round-trips.
func FuzzJobPayload(f *testing.F) {
	f.Add([]byte(samplePayload))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parseJobPayload(b)
		if err != nil {
			return
		}
		out, err := j.marshalPayload()
		if err != nil {
			t.Fatalf("valid job does not marshal: %v", err)
		}
		j2, err := parseJobPayload(out)
		if err != nil || !j2.Equal(j) {
			t.Fatalf("round trip: %+v %v", j2, err)
		}
	})
}
