package platform

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"rampart/attest"
	"rampart/internal/secfile"
	"rampart/spe/attestation"
	"rampart/spe/audit"
	"rampart/spe/auditsvc"
	"rampart/spe/fwu"
	"rampart/spe/lifecycle"
	"rampart/spe/storage"
)

// The partitions of the device and its evidence: attestation, audit and
// FWU, each opened on its own (level 3 runs each in its own process), and
// the checks of the state directory.

// bootDevice runs the bootloader, unless the SPE was started with the
// result of its boot, and measures it (the process that holds the device).
func (p *Platform) bootDevice() error {
	if p.last == nil {
		var err error
		if p.last, err = p.opt.Device.Boot.Boot(); err != nil {
			return fmt.Errorf("platform: boot: %w", err)
		}
	}
	return p.measureBoot()
}

// openAttestStore opens the store of the IAK and the audit key.
func (p *Platform) openAttestStore() error {
	if p.attestS != nil {
		return nil
	}
	var err error
	if p.attestS, err = storage.Open(filepath.Join(p.opt.StateDir, AttestDir), storage.Options{Fault: p.opt.StorageFault}); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

// openAttestation opens the attestation partition: the IAK. At level 3 it
// reads the lifecycle state and this boot's measurements by calls.
func (p *Platform) openAttestation() error {
	opt := p.opt
	if err := p.openAttestStore(); err != nil {
		return err
	}
	aopt := attestation.Options{Store: p.attestS, HUK: p.huk, Lifecycle: p.lifecycleState, BootRecords: p.bootRecords, Rand: opt.Rand}
	if opt.RoT != nil {
		aopt.External = tpmIAK{opt.RoT}
	}
	var err error
	if p.huk == nil {
		if aopt.SealKey, err = p.derive(AttestationPartitionID, attestation.SealKeyLabel); err != nil {
			return fmt.Errorf("platform: attestation sealing key: %w", err)
		}
		defer clear(aopt.SealKey)
	}
	switch {
	case opt.Device != nil:
		aopt.KeyFuses = p.keyFuses
	case opt.FWUMeasures:
		aopt.Measurements = remoteBootState{p.calls.get(AttestationPartitionID)}.get
	}
	if p.Attestation, err = attestation.New(aopt); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

// lifecycleState is the lifecycle state for attestation: from the manager
// in this process, or by a call to the lifecycle partition (level 3). A
// failed call reads as unknown, for which no token is signed.
func (p *Platform) lifecycleState() attest.Lifecycle {
	if p.Lifecycle != nil {
		return p.Lifecycle.State()
	}
	st, err := lifecycle.Client{T: p.calls.get(AttestationPartitionID)}.Get()
	if err != nil {
		return attest.LifecycleUnknown
	}
	return attest.Lifecycle(st)
}

// openAudit opens the audit log with its checkpoint key, and records every
// lifecycle transition of this process's lifecycle manager in it (level
// 3: the lifecycle partition appends them by calls).
func (p *Platform) openAudit() error {
	opt := p.opt
	if err := storage.PrivateDir(filepath.Join(opt.StateDir, AuditDir)); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	auditKey, err := p.auditKey()
	if err != nil {
		return err
	}
	p.Audit, err = auditsvc.Open(auditsvc.Options{
		Path: filepath.Join(opt.StateDir, AuditDir, AuditLogFile), Signer: auditKey, Readers: opt.AuditReaders,
		Log: audit.Options{Now: opt.Now, CheckpointEvery: 16}, Anchor: &auditsvc.ITSAnchor{ITS: p.itsFor(auditsvc.AnchorClientID)},
	})
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	if p.Lifecycle != nil {
		p.auditTransitions(auditAppender{p.Audit})
	}
	return nil
}

// appender adds a record to the audit log as the lifecycle partition.
type appender interface {
	Append(event string, data []byte) error
}

// auditAppender appends to the audit log in this process.
type auditAppender struct{ s *auditsvc.Service }

func (a auditAppender) Append(event string, data []byte) error {
	return a.s.Append(LifecyclePartitionID, event, data)
}

// auditTransitions writes every lifecycle transition to the audit log.
func (p *Platform) auditTransitions(a appender) {
	p.Lifecycle.OnTransition(func(from, to lifecycle.State) {
		// Best effort: a failed append makes the log refuse further use,
		// which its readers see; the transition itself is already recorded.
		_ = a.Append("lifecycle.transition", []byte(from.String()+" -> "+to.String()))
	})
}

// openFWU opens firmware update on the device.
func (p *Platform) openFWU() error {
	opt := p.opt
	fwuStore, err := storage.Open(filepath.Join(opt.StateDir, FWUDir), storage.Options{Fault: opt.StorageFault})
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	p.FWU, err = fwu.New(fwu.Options{
		Store: fwuStore, Flash: opt.Device.Flash, Config: opt.Device.Config, Boot: opt.Device.Boot,
		Keys: opt.Device.Keys, LastBoot: p.last, Reboot: p.Reboot, Lock: &p.devLock,
	})
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

// openITSStore opens ITS's backend: the device's "its" flash area with
// ITSOnFlash, else state/its.
func (p *Platform) openITSStore() (storage.Backend, error) {
	opt := p.opt
	if !opt.ITSOnFlash {
		st, err := storage.Open(filepath.Join(opt.StateDir, ITSDir), storage.Options{Fault: opt.StorageFault})
		if err != nil {
			return nil, fmt.Errorf("platform: %w", err)
		}
		return st, nil
	}
	if opt.Device == nil {
		return nil, errors.New("platform: ITS on flash needs a device")
	}
	for _, a := range opt.Device.Config.Storage {
		if a.Name == "its" {
			fs, err := storage.OpenFlash(opt.Device.Flash, uint32(a.Offset), uint32(a.Size), storage.FlashOptions{Lock: &p.devLock})
			if err != nil {
				return nil, fmt.Errorf("platform: %w", err)
			}
			return fs, nil
		}
	}
	return nil, errors.New(`platform: ITS on flash: the flash map has no storage area named "its"`)
}

// auditKey loads (or, on first start, generates) the audit checkpoint key,
// sealed under the HUK like the IAK.
func (p *Platform) auditKey() (*ecdsa.PrivateKey, error) {
	if err := moveAuditKey(p.opt.StateDir); err != nil {
		return nil, fmt.Errorf("platform: audit key: %w", err)
	}
	st, err := storage.Open(filepath.Join(p.opt.StateDir, AuditDir, AuditKeyDir), storage.Options{Fault: p.opt.StorageFault})
	if err != nil {
		return nil, fmt.Errorf("platform: audit key: %w", err)
	}
	get := func() ([]byte, error) { return st.GetSealed(auditKeyObject, auditKeyLabel, p.huk) }
	put := func(der []byte) error {
		return st.PutSealed(auditKeyObject, auditKeyLabel, p.huk, der, p.opt.Rand)
	}
	if p.huk == nil { // level 3: the sealing key from the root key partition
		key, err := p.derive(auditsvc.AnchorClientID, storage.SealLabel(auditKeyLabel))
		if err != nil {
			return nil, fmt.Errorf("platform: audit key: %w", err)
		}
		defer clear(key)
		get = func() ([]byte, error) { return st.GetSealedWithKey(auditKeyObject, auditKeyLabel, key) }
		put = func(der []byte) error {
			return st.PutSealedWithKey(auditKeyObject, auditKeyLabel, key, der, p.opt.Rand)
		}
	}
	der, err := get()
	if errors.Is(err, storage.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), p.opt.Rand)
		if err != nil {
			return nil, fmt.Errorf("platform: audit key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := put(der); err != nil {
			return nil, fmt.Errorf("platform: audit key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("platform: audit key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("platform: audit key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("platform: audit key is not ECDSA")
	}
	return ek, nil
}

// checkStateDir checks the state directory before anything is opened in
// it: the SPE's alone (0700), refused when others could write to it. At
// level 3 with a user per partition it belongs to the root key
// partition's user, 0711: that process checks it so; the others, which own
// only their subdirectories, check that nobody but its owner can write it.
func checkStateDir(opt Options) error {
	switch {
	case !opt.SharedStateDir:
		return storage.PrivateDir(opt.StateDir)
	case opt.Group == GroupRootKey:
		return storage.SearchableDir(opt.StateDir)
	}
	fi, err := os.Stat(opt.StateDir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s has mode %v", storage.ErrExposed, opt.StateDir, fi.Mode())
	}
	return nil
}

// moveAuditKey moves the audit key from the attestation store, where
// earlier versions kept it, to audit's own directory (with a user per
// partition at level 3 the audit process may not enter the attestation
// store). A rename: the sealed object opens the same there.
func moveAuditKey(stateDir string) error {
	old := filepath.Join(stateDir, AttestDir, auditKeyObject)
	if _, err := os.Lstat(old); err != nil {
		return nil // none there, or not this process's to see
	}
	// Made 0700, not checked: the SPM (root) moves it for another user;
	// the store's Open checks it.
	dir := filepath.Join(stateDir, AuditDir, AuditKeyDir)
	if err := secfile.MkdirAll(dir); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(dir, auditKeyObject)); err == nil {
		return storage.ShredFile(old) // moved before; a copy left by a crash
	}
	return os.Rename(old, filepath.Join(dir, auditKeyObject))
}
