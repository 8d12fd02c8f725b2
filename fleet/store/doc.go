// Package store is the fleet server's persistent state: devices and their
// lifecycle, endorsements, releases (reference values), issued certificates,
// the audit log and telemetry. One implementation runs on SQLite (pure Go,
// the default) and on PostgreSQL (production), through database/sql with the
// same migrations and the same test suite.
//
// It holds no policy: it never decides whether a device may enroll or connect
// (fleet/enroll and fleet/broker do), and it must never store a private key.
// The SQLite database and its side files are 0600 (tightened if found looser).
// Every write that acknowledges something to a device (an issued certificate,
// a telemetry batch) commits before it returns.
package store
