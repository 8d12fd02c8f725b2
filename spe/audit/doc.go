// Package audit is a tamper-evident, append-only audit log: records (time,
// client, event, data) are hash-chained, checkpoints over the chain head are
// signed with a crypto.Signer, and Verify reports any edit, deletion,
// insertion or reordering of the backing store, and any truncation or
// rollback below an anchor checkpoint the reader already holds.
//
// Append returns only after the record is durable (written and synced), so
// a crash can lose only the append in progress, never an acknowledged
// record; Open drops such a torn tail and continues the chain.
//
// It is a plain library: the SPE decides who may append and who may read.
// It must never trust the backing store (every byte read is checked), never
// rewrite or reorder what is in it (the only write besides appending is
// cutting off a torn, unacknowledged tail), and never hold private key
// material (signing goes through the caller's crypto.Signer).
package audit
