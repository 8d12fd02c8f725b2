package psa

// AuditSID and AuditVersion identify Rampart's audit log service (a vendor
// SID: TF-M's audit partition was removed in v1.7.0).
const (
	AuditSID     = 0x0000f102
	AuditVersion = 1
)

// AuditOp is a call type of the audit service:
//
//	append:     in0 = event (1..255 bytes); in1 = data (secure clients only)
//	read:       in0 = u64 offset; out0 = bytes of the log store from offset (readers only)
//	size:       out0 = u64 size of the log store (readers only)
//	            (both u64 are scalar vectors: AppendUint64, ParseUint64)
//	public_key: out0 = PKIX DER of the checkpoint key
//	checkpoint: sign the current head now (readers only)
type AuditOp int32

// Audit operations.
const (
	AuditOpAppend     AuditOp = 1
	AuditOpRead       AuditOp = 2
	AuditOpSize       AuditOp = 3
	AuditOpPublicKey  AuditOp = 4
	AuditOpCheckpoint AuditOp = 5
)
