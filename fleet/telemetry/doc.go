// Package telemetry turns device messages into stored samples: it parses
// the telemetry payload (docs/fleet-admin-api.md), batches samples from
// many devices into one transaction (group commit) and answers each sender
// only once its batch is durable; it also runs compaction (RunCompaction:
// moves pending batches into per-series chunks in passes sized to hold
// SQLite's write lock about 100 ms, so ingest commits interleave), applies
// retention and exports query results as CSV or JSON.
//
// It must never acknowledge a sample before the transaction holding it has
// committed, and never accept a sample a device sent for another device.
package telemetry
