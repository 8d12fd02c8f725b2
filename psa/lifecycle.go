package psa

// LifecycleSID and LifecycleVersion identify Rampart's lifecycle service
// (a vendor SID: the PSA APIs read the lifecycle through attestation only).
const (
	LifecycleSID     = 0x0000f101
	LifecycleVersion = 1
)

// LifecycleOp is a call type of the lifecycle service:
//
//	get: out0 = u16 state
//	set: in0 = u16 state (admin clients only)
//
// (the state is a scalar vector: AppendUint16, ParseUint16).
type LifecycleOp int32

// Lifecycle operations.
const (
	LifecycleOpGet LifecycleOp = 1
	LifecycleOpSet LifecycleOp = 2
)
