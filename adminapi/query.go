package adminapi

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Query defaults the server applies when a limit is absent or not positive.
const (
	DefaultAuditLimit     = 1000
	DefaultTelemetryLimit = 100000
)

// AuditQuery filters GET /api/v1/audit; empty fields do not filter. The
// reply is newest first, at most Limit entries (DefaultAuditLimit when 0):
// to page back, ask again with a smaller Since or a narrower filter.
type AuditQuery struct {
	Subject  string
	Action   string
	Decision string // Allow or Deny
	Since    time.Time
	Limit    int
}

// TelemetryQuery selects samples of GET /api/v1/telemetry: From inclusive,
// To exclusive (zero: unbounded), at most Limit (DefaultTelemetryLimit
// when 0), ordered by device, metric and time.
type TelemetryQuery struct {
	Device string
	Metric string
	From   time.Time
	To     time.Time
	Limit  int
}

// Telemetry export formats (the format query parameter).
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)

// Values encodes q as query parameters.
func (q AuditQuery) Values() url.Values {
	v := url.Values{}
	set(v, "subject", q.Subject)
	set(v, "action", q.Action)
	set(v, "decision", q.Decision)
	setTime(v, "since", q.Since)
	setLimit(v, q.Limit)
	return v
}

// Values encodes q as query parameters, with format (FormatJSON or
// FormatCSV; empty for the server's default, json).
func (q TelemetryQuery) Values(format string) url.Values {
	v := url.Values{}
	set(v, "device", q.Device)
	set(v, "metric", q.Metric)
	setTime(v, "from", q.From)
	setTime(v, "to", q.To)
	set(v, "format", format)
	setLimit(v, q.Limit)
	return v
}

// ParseAuditQuery reads the query parameters of GET /api/v1/audit. A
// limit that is not a number counts as absent.
func ParseAuditQuery(v url.Values) (AuditQuery, error) {
	since, err := ParseTime(v.Get("since"))
	if err != nil {
		return AuditQuery{}, fmt.Errorf("since: %w", err)
	}
	limit, _ := strconv.Atoi(v.Get("limit"))
	return AuditQuery{Subject: v.Get("subject"), Action: v.Get("action"), Decision: v.Get("decision"), Since: since, Limit: limit}, nil
}

// ParseTelemetryQuery reads the query parameters of GET /api/v1/telemetry
// and the format (FormatJSON when absent).
func ParseTelemetryQuery(v url.Values) (q TelemetryQuery, format string, err error) {
	from, err := ParseTime(v.Get("from"))
	if err != nil {
		return q, "", fmt.Errorf("from: %w", err)
	}
	to, err := ParseTime(v.Get("to"))
	if err != nil {
		return q, "", fmt.Errorf("to: %w", err)
	}
	format = v.Get("format")
	switch format {
	case "":
		format = FormatJSON
	case FormatJSON, FormatCSV:
	default:
		return q, "", fmt.Errorf("format %q: want json or csv", format)
	}
	limit, _ := strconv.Atoi(v.Get("limit"))
	return TelemetryQuery{Device: v.Get("device"), Metric: v.Get("metric"), From: from, To: to, Limit: limit}, format, nil
}

// ParseTime reads a time parameter: RFC 3339 or Unix milliseconds; empty
// is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func set(v url.Values, key, val string) {
	if val != "" {
		v.Set(key, val)
	}
}

// setTime writes t as Unix milliseconds: the server keeps times to the
// millisecond, and every time.Time has that form (RFC 3339 has no room for
// years past 9999).
func setTime(v url.Values, key string, t time.Time) {
	if !t.IsZero() {
		v.Set(key, strconv.FormatInt(t.UnixMilli(), 10))
	}
}

func setLimit(v url.Values, n int) {
	if n > 0 {
		v.Set("limit", strconv.Itoa(n))
	}
}
