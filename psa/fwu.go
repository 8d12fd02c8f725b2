package psa

import (
	"encoding/binary"
	"fmt"

	"rampart/ipc"
)

// FWUSID and FWUVersion identify the Firmware Update service (TF-M's SID).
const (
	FWUSID     = 0x000000a0
	FWUVersion = 1
)

// FWU statuses beyond psa/error.h.
const (
	ErrDependencyNeeded  ipc.Status = -156
	ErrFlashAbuse        ipc.Status = -160
	ErrInsufficientPower ipc.Status = -161
	SuccessReboot        ipc.Status = 1
	SuccessRestart       ipc.Status = 2
)

// FWUComponent is psa_fwu_component_t: Rampart uses the bootloader's image index.
type FWUComponent uint8

// FWUState is a component's state in the PSA FWU state machine.
type FWUState uint8

// Component states with their PSA values.
const (
	FWUReady     FWUState = 0
	FWUWriting   FWUState = 1
	FWUCandidate FWUState = 2
	FWUStaged    FWUState = 3
	FWUFailed    FWUState = 4
	FWUTrial     FWUState = 5
	FWURejected  FWUState = 6
	FWUUpdated   FWUState = 7
)

func (s FWUState) String() string {
	names := [...]string{"READY", "WRITING", "CANDIDATE", "STAGED", "FAILED", "TRIAL", "REJECTED", "UPDATED"}
	if int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// FWUImageVersion is psa_fwu_image_version_t.
type FWUImageVersion struct {
	Major, Minor uint8
	Patch        uint16
	Build        uint32
}

func (v FWUImageVersion) String() string {
	return fmt.Sprintf("%d.%d.%d+%d", v.Major, v.Minor, v.Patch, v.Build)
}

// FWUComponentInfo is psa_fwu_component_info_t (without the implementation-
// defined fields).
type FWUComponentInfo struct {
	State     FWUState
	Error     int32           // why the last update failed (a status), or 0
	Version   FWUImageVersion // of the active image
	Candidate FWUImageVersion // of the candidate, when there is one
	MaxSize   uint32          // the largest image the component accepts
}

// FWUComponentInfoSize is the length of an encoded FWUComponentInfo.
const FWUComponentInfoSize = 1 + 3 + 4 + 8 + 8 + 4

func appendVersion(b []byte, v FWUImageVersion) []byte {
	b = append(b, v.Major, v.Minor)
	b = binary.LittleEndian.AppendUint16(b, v.Patch)
	return binary.LittleEndian.AppendUint32(b, v.Build)
}

func parseVersion(b []byte) FWUImageVersion {
	return FWUImageVersion{b[0], b[1], binary.LittleEndian.Uint16(b[2:]), binary.LittleEndian.Uint32(b[4:])}
}

// AppendFWUComponentInfo appends the wire form of i.
func AppendFWUComponentInfo(b []byte, i FWUComponentInfo) []byte {
	b = append(b, byte(i.State), 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(i.Error))
	b = appendVersion(b, i.Version)
	b = appendVersion(b, i.Candidate)
	return binary.LittleEndian.AppendUint32(b, i.MaxSize)
}

// ParseFWUComponentInfo decodes the wire form of a FWUComponentInfo.
func ParseFWUComponentInfo(b []byte) (FWUComponentInfo, error) {
	if len(b) != FWUComponentInfoSize {
		return FWUComponentInfo{}, fmt.Errorf("psa: fwu component info of %d bytes, want %d: %w", len(b), FWUComponentInfoSize, ErrMalformed)
	}
	return FWUComponentInfo{
		State: FWUState(b[0]), Error: int32(binary.LittleEndian.Uint32(b[4:])),
		Version: parseVersion(b[8:]), Candidate: parseVersion(b[16:]), MaxSize: binary.LittleEndian.Uint32(b[24:]),
	}, nil
}

// FWUOp is a call type of the FWU service:
//
//	query:          in0 = u8 component; out0 = component info
//	start:          in0 = u8 component; in1 = manifest (must be empty)
//	write:          in0 = u8 component, u32 offset; in1 = block
//	finish, cancel, clean: in0 = u8 component
//	install:        returns SUCCESS_REBOOT when a reboot is needed
//	request_reboot, accept: no vectors
//	reject:         in0 = i32 error
type FWUOp int32

// FWU operations.
const (
	FWUOpQuery         FWUOp = 1
	FWUOpStart         FWUOp = 2
	FWUOpWrite         FWUOp = 3
	FWUOpFinish        FWUOp = 4
	FWUOpCancel        FWUOp = 5
	FWUOpClean         FWUOp = 6
	FWUOpInstall       FWUOp = 7
	FWUOpRequestReboot FWUOp = 8
	FWUOpAccept        FWUOp = 9
	FWUOpReject        FWUOp = 10
)

// FWUHeader is input vector 0 of a FWU call: the component (u8), then
// write's offset (u32, little-endian); reject's vector 0 is its error code
// (i32) alone.
type FWUHeader struct {
	Component FWUComponent
	Offset    uint32 // write
	Error     int32  // reject
}

// fwuHeaderSize returns the header length of op, or 0 for an operation
// without a header (install, request_reboot, accept) or an unknown one.
func fwuHeaderSize(op FWUOp) int {
	switch op {
	case FWUOpQuery, FWUOpStart, FWUOpFinish, FWUOpCancel, FWUOpClean:
		return 1
	case FWUOpWrite:
		return 5
	case FWUOpReject:
		return 4
	}
	return 0
}

// AppendFWUHeader appends the header of op made of h's fields that op's
// layout names. For an operation without a header it returns b unchanged.
func AppendFWUHeader(b []byte, op FWUOp, h FWUHeader) []byte {
	switch fwuHeaderSize(op) {
	case 0:
		return b
	case 4:
		return binary.LittleEndian.AppendUint32(b, uint32(h.Error))
	}
	b = append(b, byte(h.Component))
	if op == FWUOpWrite {
		b = binary.LittleEndian.AppendUint32(b, h.Offset)
	}
	return b
}

// ParseFWUHeader decodes input vector 0 of a call of op; it must be exactly
// as long as op's layout says.
func ParseFWUHeader(op FWUOp, b []byte) (FWUHeader, error) {
	var h FWUHeader
	n := fwuHeaderSize(op)
	if n == 0 {
		return h, fmt.Errorf("psa: fwu operation %d has no header: %w", int32(op), ErrMalformed)
	}
	if err := wantLen("fwu header", b, n); err != nil {
		return h, err
	}
	if op == FWUOpReject {
		h.Error = int32(binary.LittleEndian.Uint32(b))
		return h, nil
	}
	h.Component = FWUComponent(b[0])
	if op == FWUOpWrite {
		h.Offset = binary.LittleEndian.Uint32(b[1:])
	}
	return h, nil
}
