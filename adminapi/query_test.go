package adminapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestQueriesRoundTrip: what the client encodes, the server reads back.
func TestQueriesRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 123e6, time.UTC)
	aq := AuditQuery{Subject: "3fa2", Action: "device.suspend", Decision: Deny, Since: at, Limit: 20}
	got, err := ParseAuditQuery(aq.Values())
	if err != nil || got.Subject != aq.Subject || got.Action != aq.Action || got.Decision != aq.Decision || !got.Since.Equal(at) || got.Limit != 20 {
		t.Fatalf("audit: %+v %v", got, err)
	}
	tq := TelemetryQuery{Device: "3fa2", Metric: "temperature", From: at, To: at.Add(time.Hour), Limit: 5}
	gt, format, err := ParseTelemetryQuery(tq.Values(FormatCSV))
	if err != nil || format != FormatCSV || gt.Device != tq.Device || gt.Metric != tq.Metric || !gt.From.Equal(tq.From) || !gt.To.Equal(tq.To) || gt.Limit != 5 {
		t.Fatalf("telemetry: %+v %q %v", gt, format, err)
	}
	// Zero values are left out, and read back as zero.
	if v := (AuditQuery{}).Values(); len(v) != 0 {
		t.Fatalf("empty audit query encodes %v", v)
	}
	if gt, format, err := ParseTelemetryQuery(url.Values{}); err != nil || format != FormatJSON || gt != (TelemetryQuery{}) {
		t.Fatalf("empty telemetry query: %+v %q %v", gt, format, err)
	}
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"":                            {},
		"1764086400000":               time.UnixMilli(1764086400000),
		"2026-11-25T12:00:00Z":        time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		"2026-11-25T13:00:00.5+01:00": time.Date(2026, 11, 25, 12, 0, 0, 5e8, time.UTC),
	} {
		got, err := ParseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-11-25", "12:00"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}

// TestQueryErrorsNameTheParameter: the server answers these 400 with the
// message as it is.
func TestQueryErrorsNameTheParameter(t *testing.T) {
	for q, want := range map[string]string{
		"since=soon": "since: parsing time",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseAuditQuery(v); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("audit %s: %v, want %q", q, err, want)
		}
	}
	for q, want := range map[string]string{
		"from=soon":  "from: parsing time",
		"to=soon":    "to: parsing time",
		"format=xml": `format "xml": want json or csv`,
	} {
		v, _ := url.ParseQuery(q)
		if _, _, err := ParseTelemetryQuery(v); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("telemetry %s: %v, want %q", q, err, want)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(Duration{15 * time.Minute})
	if err != nil || string(b) != `"15m0s"` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	for in, want := range map[string]time.Duration{`"90s"`: 90 * time.Second, `90`: 90 * time.Second, `0.5`: 500 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Duration != want {
			t.Errorf("%s: %v %v", in, d, err)
		}
	}
	// 1e300 seconds became whatever the CPU makes of an overflowing
	// conversion (the smallest Duration on amd64, the largest on arm64).
	for _, bad := range []string{`"soon"`, `true`, `{}`, `1e300`, `-1e300`, `9223372036.9`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil || !strings.Contains(err.Error(), "adminapi: duration") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

// FuzzParseQuery: no query string makes the parsers fail other than with
// an error, and what parses encodes to a query that parses the same.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "since=1764086400000&limit=5", "subject=3fa2&action=enroll&decision=deny",
		"device=d1&metric=temperature&from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z&format=csv&limit=100",
		"from=%00", "limit=-1", "limit=99999999999999999999", "since=2026-11-25T13:00:00.5+01:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if aq, err := ParseAuditQuery(v); err == nil {
			again, err := ParseAuditQuery(aq.Values())
			if err != nil || again.Subject != aq.Subject || !sameMilli(again.Since, aq.Since) || (aq.Limit > 0 && again.Limit != aq.Limit) {
				t.Fatalf("audit %q: %+v then %+v %v", raw, aq, again, err)
			}
		}
		if tq, format, err := ParseTelemetryQuery(v); err == nil {
			again, f2, err := ParseTelemetryQuery(tq.Values(format))
			if err != nil || f2 != format || again.Device != tq.Device || !sameMilli(again.From, tq.From) || !sameMilli(again.To, tq.To) {
				t.Fatalf("telemetry %q: %+v then %+v %v", raw, tq, again, err)
			}
		}
	})
}

// sameMilli: times travel as Unix milliseconds, the server's resolution.
func sameMilli(a, b time.Time) bool {
	return a.IsZero() == b.IsZero() && (a.IsZero() || a.UnixMilli() == b.UnixMilli())
}

// FuzzDuration: a duration either decodes and encodes to text that decodes
// to the same duration, or is refused with an error.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`"15m"`, `"20m0s"`, `90`, `0.5`, `-1`, `1e300`, `"-2h"`, `null`, `"1.5h"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d Duration
		if json.Unmarshal([]byte(in), &d) != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("%s -> %v -> %s -> %v %v", in, d, b, back, err)
		}
	})
}
