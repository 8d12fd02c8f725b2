// Package telemetry turns device messages into stored samples: it parses
// the telemetry message (deviceproto.Telemetry), batches samples from
// many devices into one transaction (group commit) and answers each sender
// only once its batch is durable; it also runs compaction (RunCompaction:
// moves pending batches into per-series chunks in passes sized to hold
// SQLite's write lock about 100 ms, so ingest commits interleave), applies
// retention and exports query results as CSV or JSON.
//
// It must never acknowledge a sample before the transaction holding it has
// committed, never accept a sample a device sent for another device, and
// never read more into a payload than it says: null, a repeated key or a
// sample older than the retention window is refused, not stored as 0,
// merged or kept until the next retention pass.
package telemetry
