package adminapi

import "time"

// AuditEntry is one row of GET /api/v1/audit.
type AuditEntry struct {
	// ID orders entries (newest first is highest); it is the store's row
	// number, meaningful only within one server.
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`    // "device:<id>", "token:<name>", "remote:<addr>"
	Action   string    `json:"action"`   // "enroll", "renew", "mqtt.connect", "device.suspend", ...
	Subject  string    `json:"subject"`  // device id, release digest, ...
	Decision string    `json:"decision"` // Allow or Deny
	Reason   string    `json:"reason"`
}

// Audit decisions.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Point is one telemetry sample of GET /api/v1/telemetry (format json).
type Point struct {
	DeviceID string    `json:"device_id"`
	Metric   string    `json:"metric"`
	Time     time.Time `json:"time"`
	Value    float64   `json:"value"`
}
