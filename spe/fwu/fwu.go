package fwu

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"rampart/boot"
	"rampart/flash"
	"rampart/image"
	"rampart/ipc"
	"rampart/psa"
	"rampart/spe/storage"
)

// Options configures the service.
type Options struct {
	Store  *storage.Store   // the persisted component states
	Flash  *flash.Device    // the device the bootloader boots from
	Config *boot.Config     // its flash map
	Boot   *boot.Bootloader // the bootloader (staging, confirming)
	Keys   []any            // the boot verification keys (public halves)
	// LastBoot is the result of the boot that started this SPE.
	LastBoot *boot.Result
	// Reboot reboots the device (runs the bootloader again) and returns the
	// new boot's result; the platform supplies it. nil makes request_reboot
	// answer NOT_SUPPORTED. It is called without Lock held.
	Reboot func() (*boot.Result, error)
	// Lock serializes this service with the device's other users (ITS on
	// flash); nil means a private mutex.
	Lock sync.Locker
}

// Service is the FWU RoT Service. It is safe for concurrent use.
type Service struct {
	mu      sync.Locker
	opt     Options
	comps   []component
	pending [][]byte // per component: written bytes not yet aligned to the flash
	last    *boot.Result
	down    atomic.Bool // set by Shutdown (decommissioning)
}

// Shutdown is decommissioning in the running SPE: a decommissioned device
// takes no firmware update, so every later call answers
// PSA_ERROR_BAD_STATE. It waits for an operation in progress, drops the
// bytes of unfinished writes, and is idempotent.
func (s *Service) Shutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Store(true)
	for i := range s.pending {
		s.pending[i] = nil
	}
}

// New opens the service and reconciles its saved states with opt.LastBoot.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.Flash == nil || opt.Config == nil || opt.Boot == nil {
		return nil, errors.New("fwu: store, flash, config and bootloader are required")
	}
	if len(opt.Keys) == 0 {
		return nil, errors.New("fwu: no boot verification keys: nothing could ever be staged")
	}
	sizes := make([]uint32, len(opt.Config.Images))
	for i, im := range opt.Config.Images {
		sizes[i] = uint32(im.Secondary.Size)
	}
	comps, err := loadState(opt.Store, sizes)
	if err != nil {
		return nil, err
	}
	if opt.Lock == nil {
		opt.Lock = &sync.Mutex{}
	}
	s := &Service{mu: opt.Lock, opt: opt, comps: comps, pending: make([][]byte, len(comps))}
	if err := s.reconcile(opt.LastBoot); err != nil {
		return nil, err
	}
	return s, nil
}

// slot returns component c's secondary slot.
func (s *Service) slot(c psa.FWUComponent) (off, size uint32, err error) {
	if int(c) >= len(s.comps) {
		return 0, 0, fmt.Errorf("fwu: component %d: the device has %d: %w", c, len(s.comps), ipc.ErrDoesNotExist)
	}
	a := s.opt.Config.Images[c].Secondary
	return uint32(a.Offset), uint32(a.Size), nil
}

func (s *Service) fail(c psa.FWUComponent, st ipc.Status) {
	s.comps[c] = component{State: psa.FWUFailed, Error: int32(st)}
	s.pending[c] = nil
}

// reconcile moves states after a boot: a staged candidate the bootloader
// is testing is in TRIAL; one it did not take, or a trial it reverted, is
// FAILED; an interrupted download is FAILED.
func (s *Service) reconcile(res *boot.Result) error {
	s.last = res
	for i := range s.comps {
		c := &s.comps[i]
		var rep *boot.ImageReport
		if res != nil && i < len(res.Images) {
			rep = &res.Images[i]
		}
		switch c.State {
		case psa.FWUWriting:
			*c = component{State: psa.FWUFailed, Error: int32(ipc.ErrStorageFailure)}
		case psa.FWUStaged, psa.FWUCandidate:
			// A candidate whose install was cut after the bootloader's
			// request reached the flash, but before the state was saved,
			// is staged too: follow what the bootloader did.
			if c.State == psa.FWUCandidate && (rep == nil || rep.Action == boot.SwapNone) {
				continue
			}
			switch {
			case rep != nil && rep.Booted && rep.Action == boot.SwapTest && rep.Version == versionText(c.Candidate):
				c.State = psa.FWUTrial
			case rep != nil && rep.Booted && rep.Action == boot.SwapPerm && rep.Version == versionText(c.Candidate):
				c.State = psa.FWUUpdated
			default:
				*c = component{State: psa.FWUFailed, Error: int32(ipc.ErrInvalidSignature)}
			}
		case psa.FWUTrial, psa.FWURejected:
			// A trial not accepted before this boot was reverted by the
			// bootloader (MCUboot reverts an unconfirmed test image).
			*c = component{State: psa.FWUFailed, Error: int32(ipc.ErrNotPermitted)}
		}
	}
	return saveState(s.opt.Store, s.comps)
}

func versionText(v psa.FWUImageVersion) string {
	return image.Version{Major: v.Major, Minor: v.Minor, Revision: v.Patch, Build: v.Build}.String()
}

// Query is psa_fwu_query.
func (s *Service) Query(c psa.FWUComponent) (psa.FWUComponentInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, size, err := s.slot(c)
	if err != nil {
		return psa.FWUComponentInfo{}, err
	}
	info := psa.FWUComponentInfo{State: s.comps[c].State, Error: s.comps[c].Error, Candidate: s.comps[c].Candidate, MaxSize: size}
	st, err := s.opt.Boot.State()
	if err == nil && int(c) < len(st) && st[c].Primary.Version != "" {
		if v, err := image.ParseVersion(st[c].Primary.Version); err == nil {
			info.Version = psa.FWUImageVersion{Major: v.Major, Minor: v.Minor, Patch: v.Revision, Build: v.Build}
		}
	}
	return info, nil
}

// Start is psa_fwu_start: erase the secondary slot and begin WRITING.
func (s *Service) Start(c psa.FWUComponent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, err := s.slot(c); err != nil {
		return err
	}
	switch s.comps[c].State {
	case psa.FWUReady, psa.FWUWriting, psa.FWUCandidate:
	default:
		return fmt.Errorf("fwu: start on a component in state %s: %w", s.comps[c].State, ipc.ErrBadState)
	}
	if err := s.opt.Boot.Install(int(c), boot.Secondary, nil); err != nil {
		s.fail(c, ipc.ErrStorageFailure)
		saveState(s.opt.Store, s.comps)
		return fmt.Errorf("fwu: erasing the secondary slot: %v: %w", err, ipc.ErrStorageFailure)
	}
	s.comps[c] = component{State: psa.FWUWriting}
	s.pending[c] = nil
	return saveState(s.opt.Store, s.comps)
}

// Write is psa_fwu_write: block at offset, which must be where the last
// block ended; the image may not reach the end of the slot.
func (s *Service) Write(c psa.FWUComponent, offset uint32, block []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, size, err := s.slot(c)
	if err != nil {
		return err
	}
	cs := &s.comps[c]
	if cs.State != psa.FWUWriting {
		return fmt.Errorf("fwu: write on a component in state %s: %w", cs.State, ipc.ErrBadState)
	}
	if offset != cs.Written {
		return fmt.Errorf("fwu: block at offset %d, expected %d (blocks must arrive in order): %w", offset, cs.Written, ipc.ErrInvalidArgument)
	}
	if uint64(offset)+uint64(len(block)) > uint64(size) {
		return fmt.Errorf("fwu: block ends at %d, past the %d-byte slot: %w", uint64(offset)+uint64(len(block)), size, ipc.ErrInvalidArgument)
	}
	align := uint32(s.opt.Flash.WriteAlign())
	buf := append(s.pending[c], block...)
	n := uint32(len(buf)) / align * align
	start := cs.Written - uint32(len(s.pending[c]))
	if n > 0 {
		if err := s.opt.Flash.Write(off+start, buf[:n]); err != nil {
			s.fail(c, ipc.ErrStorageFailure)
			saveState(s.opt.Store, s.comps)
			return fmt.Errorf("fwu: %v: %w", err, ipc.ErrStorageFailure)
		}
	}
	s.pending[c] = append([]byte(nil), buf[n:]...)
	cs.Written += uint32(len(block))
	return nil
}

// verifySlot reads the first n bytes of component c's secondary slot and
// verifies them as a signed image with the boot keys.
func (s *Service) verifySlot(c psa.FWUComponent, n uint32) (image.Version, error) {
	off, size, err := s.slot(c)
	if err != nil {
		return image.Version{}, err
	}
	if n > size {
		return image.Version{}, fmt.Errorf("fwu: candidate of %d bytes in a %d-byte slot: %w", n, size, ipc.ErrDataCorrupt)
	}
	data := make([]byte, n)
	if err := s.opt.Flash.Read(off, data); err != nil {
		return image.Version{}, fmt.Errorf("fwu: %v: %w", err, ipc.ErrStorageFailure)
	}
	img, v, err := image.Verify(data, s.opt.Keys...)
	if err != nil || !v.Signed {
		return image.Version{}, fmt.Errorf("fwu: candidate does not verify: %v: %w", err, ipc.ErrInvalidSignature)
	}
	if len(img.Bytes()) > int(n) {
		return image.Version{}, fmt.Errorf("fwu: candidate truncated: %w", ipc.ErrInvalidSignature)
	}
	st, err := s.opt.Boot.State()
	if err != nil || int(c) >= len(st) || !st[c].Secondary.Valid {
		problem := "unreadable"
		if err == nil && int(c) < len(st) {
			problem = st[c].Secondary.Problem
		}
		return image.Version{}, fmt.Errorf("fwu: the bootloader refuses the candidate: %s: %w", problem, ipc.ErrInvalidSignature)
	}
	return img.Header.Ver, nil
}

// Finish is psa_fwu_finish: flush, verify, and make the image a CANDIDATE;
// an image that does not verify is erased and the component FAILED.
func (s *Service) Finish(c psa.FWUComponent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	off, _, err := s.slot(c)
	if err != nil {
		return err
	}
	cs := &s.comps[c]
	if cs.State != psa.FWUWriting {
		return fmt.Errorf("fwu: finish on a component in state %s: %w", cs.State, ipc.ErrBadState)
	}
	if p := s.pending[c]; len(p) > 0 {
		align := s.opt.Flash.WriteAlign()
		buf := bytes.Repeat([]byte{s.opt.Flash.ErasedValue()}, (len(p)+align-1)/align*align)
		copy(buf, p)
		if err := s.opt.Flash.Write(off+cs.Written-uint32(len(p)), buf); err != nil {
			s.fail(c, ipc.ErrStorageFailure)
			saveState(s.opt.Store, s.comps)
			return fmt.Errorf("fwu: %v: %w", err, ipc.ErrStorageFailure)
		}
		s.pending[c] = nil
	}
	v, err := s.verifySlot(c, cs.Written)
	if err != nil {
		_ = s.opt.Boot.Install(int(c), boot.Secondary, nil)
		s.fail(c, ipc.ErrInvalidSignature)
		saveState(s.opt.Store, s.comps)
		return err
	}
	cs.State = psa.FWUCandidate
	cs.Candidate = psa.FWUImageVersion{Major: v.Major, Minor: v.Minor, Patch: v.Revision, Build: v.Build}
	return saveState(s.opt.Store, s.comps)
}

// Cancel is psa_fwu_cancel: a download or candidate is abandoned (FAILED).
func (s *Service) Cancel(c psa.FWUComponent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, err := s.slot(c); err != nil {
		return err
	}
	if st := s.comps[c].State; st != psa.FWUWriting && st != psa.FWUCandidate {
		return fmt.Errorf("fwu: cancel on a component in state %s: %w", st, ipc.ErrBadState)
	}
	s.fail(c, ipc.Success)
	return saveState(s.opt.Store, s.comps)
}

// Clean is psa_fwu_clean: FAILED or UPDATED back to READY, the secondary
// slot erased.
func (s *Service) Clean(c psa.FWUComponent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, _, err := s.slot(c); err != nil {
		return err
	}
	if st := s.comps[c].State; st != psa.FWUFailed && st != psa.FWUUpdated {
		return fmt.Errorf("fwu: clean on a component in state %s: %w", st, ipc.ErrBadState)
	}
	if err := s.opt.Boot.Install(int(c), boot.Secondary, nil); err != nil {
		return fmt.Errorf("fwu: erasing the secondary slot: %v: %w", err, ipc.ErrStorageFailure)
	}
	s.comps[c] = component{State: psa.FWUReady}
	return saveState(s.opt.Store, s.comps)
}

// Install is psa_fwu_install: every CANDIDATE is verified again from flash
// and staged for a test boot. It returns psa.SuccessReboot.
func (s *Service) Install() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var staged []int
	for i := range s.comps {
		if s.comps[i].State == psa.FWUCandidate {
			staged = append(staged, i)
		}
	}
	if len(staged) == 0 {
		return fmt.Errorf("fwu: install with no candidate: %w", ipc.ErrBadState)
	}
	// Verify all before staging any, so install applies to all or none.
	for _, i := range staged {
		if _, err := s.verifySlot(psa.FWUComponent(i), s.comps[i].Written); err != nil {
			_ = s.opt.Boot.Install(i, boot.Secondary, nil)
			s.fail(psa.FWUComponent(i), ipc.ErrInvalidSignature)
			saveState(s.opt.Store, s.comps)
			return err
		}
	}
	for _, i := range staged {
		if err := s.opt.Boot.RequestUpgrade(i, false); err != nil {
			return fmt.Errorf("fwu: staging: %v: %w", err, ipc.ErrStorageFailure)
		}
		s.comps[i].State = psa.FWUStaged
	}
	if err := saveState(s.opt.Store, s.comps); err != nil {
		return err
	}
	return psa.SuccessReboot
}

// RequestReboot is psa_fwu_request_reboot: the platform reboots the device
// and the states are reconciled with what the bootloader did.
func (s *Service) RequestReboot() (*boot.Result, error) {
	if s.opt.Reboot == nil {
		return nil, fmt.Errorf("fwu: this platform cannot reboot on request: %w", ipc.ErrNotSupported)
	}
	res, err := s.opt.Reboot()
	s.mu.Lock()
	defer s.mu.Unlock()
	if rerr := s.reconcile(res); err == nil {
		err = rerr
	}
	if err != nil {
		return res, fmt.Errorf("fwu: reboot: %v: %w", err, ipc.ErrHardwareFailure)
	}
	return res, nil
}

// Accept is psa_fwu_accept: every TRIAL image is confirmed (UPDATED).
func (s *Service) Accept() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i := range s.comps {
		if s.comps[i].State != psa.FWUTrial {
			continue
		}
		if err := s.opt.Boot.Confirm(i); err != nil {
			return fmt.Errorf("fwu: confirming: %v: %w", err, ipc.ErrStorageFailure)
		}
		s.comps[i].State = psa.FWUUpdated
		n++
	}
	if n == 0 {
		return fmt.Errorf("fwu: accept with no image in trial: %w", ipc.ErrBadState)
	}
	return saveState(s.opt.Store, s.comps)
}

// Reject is psa_fwu_reject: TRIAL images become REJECTED (the next boot
// reverts them: returns psa.SuccessReboot) and STAGED ones FAILED.
func (s *Service) Reject(code int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var reboot, any bool
	for i := range s.comps {
		switch s.comps[i].State {
		case psa.FWUTrial:
			s.comps[i].State, s.comps[i].Error = psa.FWURejected, code
			reboot, any = true, true
		case psa.FWUStaged:
			if err := s.opt.Boot.Install(i, boot.Secondary, nil); err != nil {
				return fmt.Errorf("fwu: unstaging: %v: %w", err, ipc.ErrStorageFailure)
			}
			s.comps[i] = component{State: psa.FWUFailed, Error: code}
			any = true
		}
	}
	if !any {
		return fmt.Errorf("fwu: reject with nothing staged or in trial: %w", ipc.ErrBadState)
	}
	if err := saveState(s.opt.Store, s.comps); err != nil {
		return err
	}
	if reboot {
		return psa.SuccessReboot
	}
	return nil
}
