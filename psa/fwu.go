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
		return FWUComponentInfo{}, fmt.Errorf("psa: fwu component info of %d bytes, want %d: %w", len(b), FWUComponentInfoSize, ErrCommunicationFailure)
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

// FWU is a client of the Firmware Update service.
type FWU struct{ s service }

// NewFWU returns a FWU client over t. Closing it closes t.
func NewFWU(t ipc.Transport) *FWU {
	return &FWU{service{t: t, sid: FWUSID, version: FWUVersion, name: "fwu"}}
}

// Query is psa_fwu_query.
func (c *FWU) Query(comp FWUComponent) (FWUComponentInfo, error) {
	out, err := c.s.call("query", int32(FWUOpQuery), [][]byte{{byte(comp)}}, FWUComponentInfoSize)
	if err != nil {
		return FWUComponentInfo{}, err
	}
	return ParseFWUComponentInfo(out[0])
}

// Start is psa_fwu_start (Rampart takes no separate manifest).
func (c *FWU) Start(comp FWUComponent) error {
	_, err := c.s.call("start", int32(FWUOpStart), [][]byte{{byte(comp)}, nil})
	return err
}

// Write is psa_fwu_write. Blocks must arrive in order.
func (c *FWU) Write(comp FWUComponent, offset uint32, block []byte) error {
	_, err := c.s.call("write", int32(FWUOpWrite), [][]byte{binary.LittleEndian.AppendUint32([]byte{byte(comp)}, offset), block})
	return err
}

// Finish is psa_fwu_finish: the SPE verifies the image and it becomes a
// CANDIDATE, or FAILED when it does not verify.
func (c *FWU) Finish(comp FWUComponent) error {
	_, err := c.s.call("finish", int32(FWUOpFinish), [][]byte{{byte(comp)}})
	return err
}

// Cancel is psa_fwu_cancel.
func (c *FWU) Cancel(comp FWUComponent) error {
	_, err := c.s.call("cancel", int32(FWUOpCancel), [][]byte{{byte(comp)}})
	return err
}

// Clean is psa_fwu_clean.
func (c *FWU) Clean(comp FWUComponent) error {
	_, err := c.s.call("clean", int32(FWUOpClean), [][]byte{{byte(comp)}})
	return err
}

// Install is psa_fwu_install; reboot reports PSA_SUCCESS_REBOOT.
func (c *FWU) Install() (reboot bool, err error) {
	_, err = c.s.call("install", int32(FWUOpInstall), nil)
	if err == nil {
		return false, nil
	}
	if errorIs(err, SuccessReboot) {
		return true, nil
	}
	return false, err
}

// RequestReboot is psa_fwu_request_reboot.
func (c *FWU) RequestReboot() error {
	_, err := c.s.call("request_reboot", int32(FWUOpRequestReboot), nil)
	return err
}

// Accept is psa_fwu_accept.
func (c *FWU) Accept() error {
	_, err := c.s.call("accept", int32(FWUOpAccept), nil)
	return err
}

// Reject is psa_fwu_reject; reboot reports PSA_SUCCESS_REBOOT (a trial
// image is reverted by the next boot).
func (c *FWU) Reject(errCode int32) (reboot bool, err error) {
	_, err = c.s.call("reject", int32(FWUOpReject), [][]byte{binary.LittleEndian.AppendUint32(nil, uint32(errCode))})
	if err == nil {
		return false, nil
	}
	if errorIs(err, SuccessReboot) {
		return true, nil
	}
	return false, err
}

// Close closes the transport.
func (c *FWU) Close() error { return c.s.close() }
