package platform

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"time"

	"rampart/attest"
	"rampart/boot"
	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/attestation"
	"rampart/spe/auditsvc"
	"rampart/spe/crypto"
	"rampart/spe/fwu"
	"rampart/spe/lifecycle"
	"rampart/spe/rootkey"
	"rampart/spe/rot"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
	"rampart/spe/storage/ps"
	"rampart/swcomponent"
)

// Subdirectories and files of the state directory.
const (
	HUKFile      = "huk"
	KeysDir      = "keys" // the crypto service's sealed keys
	ITSDir       = "its"
	PSDir        = "ps"
	AttestDir    = "attest"
	LifecycleDir = "lifecycle"
	FWUDir       = "fwu"
	AuditDir     = "audit"
	AuditLogFile = "audit.log"
	AuditKeyDir  = "key" // in AuditDir: the audit checkpoint key, sealed
)

// LifecyclePartitionID is the secure client ID lifecycle events are audited under.
const LifecyclePartitionID int32 = 0xf101

const auditKeyObject, auditKeyLabel = "audit-key", "audit checkpoint key"

// Options configures a platform.
type Options struct {
	// StateDir holds every secret and object of the SPE (mode 0700).
	StateDir string
	// Device is the bootloader device the SPE was booted from; nil means no
	// firmware update and boot records from BootRecords.
	Device *boot.Device
	// LastBoot is the result of the boot that started this SPE; nil with a
	// Device makes Open boot the device.
	LastBoot *boot.Result
	// ITSOnFlash keeps ITS (and so PS's version records and the audit
	// anchor) in the device flash map's storage area named "its" (an even
	// number of sectors) instead of state/its.
	ITSOnFlash bool
	// BootRecords are the measurements to attest when there is no Device.
	BootRecords []swcomponent.Component
	// Server options (client identification, limits).
	Server spe.Options
	// Into, when set, is an existing server to register the services on
	// (its owner registers the status service); Server is then unused.
	Into *spe.Server
	// LifecycleAdmins may request lifecycle transitions over IPC.
	LifecycleAdmins []int32
	// AuditReaders may read the audit log over IPC.
	AuditReaders []int32
	// CryptoLimits, ITSLimits and PSLimits are the services' per-client
	// quotas; zero fields take each service's defaults.
	CryptoLimits crypto.Limits
	ITSLimits    its.Limits
	PSLimits     its.Limits
	// StorageFault, when set, is armed on every object store of the
	// platform (power-cut tests; see storage.CutAt).
	StorageFault storage.FaultFunc
	// Rand and Now are injected for tests; nil means crypto/rand, time.Now.
	Rand io.Reader
	Now  func() time.Time
	// Group, at isolation level 3, is the one process group of the PSA
	// root of trust this process opens (GroupRootKey, GroupCrypto, ...);
	// "" opens them all, with the HUK, in this process (levels 1 and 2).
	Group string
	// Caller reaches the services of other processes as partition id (a
	// session the partition manager limits to that partition's manifest
	// dependencies): how a level-3 group gets derived keys and ITS.
	Caller func(partition int32) ipc.Transport
	// RetireInSPM, at isolation level 2 (the PRoT process), asks the
	// partition manager to retire the key holders' SIDs once
	// decommissioning has retired and shredded them here: the SPM routes
	// by SID, and would otherwise keep routing them (a connect succeeding,
	// its calls refused by this process).
	RetireInSPM func() error
	// RoT, when set, is the TPM holding the hardware unique key, the
	// attestation key and the persistent PSA keys created with
	// psa.LifetimePersistentTPM (docs/roots-of-trust.md); nil keeps the
	// first two in StateDir and refuses the third.
	RoT *rot.TPM
	// SharedStateDir, at level 3 with a user per partition: StateDir
	// belongs to the root key partition's user (mode 0711), each process
	// owns only its own subdirectories.
	SharedStateDir bool
	// Decommissioned, at level 3, is what the SPM said of the device.
	Decommissioned bool
	// FWUMeasures, at level 3, says the device is in the FWU partition's
	// process: attestation asks it for this boot's measurements.
	FWUMeasures bool
}

// Platform is an assembled SPE.
type Platform struct {
	Server      *spe.Server
	Lifecycle   *lifecycle.Manager
	Crypto      *crypto.Service      // nil when decommissioned
	ITS         *its.Service         // nil when decommissioned
	PS          *ps.Service          // nil when decommissioned
	Attestation *attestation.Service // nil when decommissioned
	Audit       *auditsvc.Service    // nil when decommissioned
	FWU         *fwu.Service         // nil without a Device or when decommissioned

	opt     Options
	devLock sync.Mutex // serializes the device flash between FWU, reboots and ITS on flash
	huk     []byte     // nil at level 3: only the root key partition holds it
	rootKey *rootkey.Service
	calls   callers
	attestS *storage.Store
	mu      sync.Mutex
	last    *boot.Result
}

// Open assembles the SPE from opt. On a device that is decommissioned it
// finishes the destruction and starts only the lifecycle and status
// services.
func Open(opt Options) (*Platform, error) {
	if opt.StateDir == "" {
		return nil, errors.New("platform: a state directory is required")
	}
	if opt.Rand == nil {
		opt.Rand = rand.Reader
	}
	p := &Platform{opt: opt, last: opt.LastBoot}
	p.calls.new = opt.Caller
	if err := checkStateDir(opt); err != nil {
		return nil, fmt.Errorf("platform: state directory: %w", err)
	}
	if opt.Group != "" && opt.Group != GroupLifecycle {
		return p.openPart()
	}
	lcStore, err := storage.Open(filepath.Join(opt.StateDir, LifecycleDir), storage.Options{Fault: opt.StorageFault})
	if err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if p.Lifecycle, err = lifecycle.Open(lcStore); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	p.Lifecycle.OnDecommission(p.destroy)
	if err := p.Lifecycle.Resume(); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if opt.Into != nil {
		p.Server = opt.Into
	} else {
		p.Server = spe.New(opt.Server)
		if err := p.Server.RegisterStatus(); err != nil {
			return nil, err
		}
	}
	if err := (&lifecycle.Service{M: p.Lifecycle, Admins: opt.LifecycleAdmins}).Register(p.Server); err != nil {
		return nil, err
	}
	if p.Lifecycle.State().Major() == attest.LifecycleDecommissioned {
		return p, nil
	}
	if opt.Group == GroupLifecycle {
		p.auditTransitions(auditsvc.Client{T: p.calls.get(LifecyclePartitionID)})
		return p, nil
	}
	if err := p.openServices(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// openPart opens one level-3 process group other than the platform's (the
// lifecycle partition's): nothing on a decommissioned device, as at level 1
// (the lifecycle partition finishes the destruction).
func (p *Platform) openPart() (*Platform, error) {
	if !isLevel3PRoT(p.opt.Group) {
		return nil, fmt.Errorf("platform: no partition group %q", p.opt.Group)
	}
	p.Server = p.opt.Into
	if p.Server == nil {
		p.Server = spe.New(p.opt.Server)
	}
	if p.opt.Decommissioned {
		return p, nil // RunPartition shredded its state
	}
	if err := p.openServices(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *Platform) openServices() error {
	opt := p.opt
	if opt.Group == "" {
		if err := p.loadHUK(); err != nil {
			return err
		}
	}
	if p.runs(GroupRootKey) {
		return p.openRootKey()
	}
	if p.runs(GroupCrypto) {
		if err := p.openCrypto(); err != nil {
			return err
		}
	}
	if p.runs(GroupITS) {
		itsStore, err := p.openITSStore()
		if err != nil {
			return err
		}
		p.ITS = its.New(itsStore, opt.ITSLimits)
	}
	if p.runs(GroupPS) {
		if err := p.openPS(); err != nil {
			return err
		}
	}
	if p.runs(GroupFWU) && opt.Device != nil {
		if err := p.bootDevice(); err != nil {
			return err
		}
	}
	if p.runs(GroupAttestation) {
		if err := p.openAttestation(); err != nil {
			return err
		}
	}
	if p.runs(GroupAudit) {
		if err := p.openAudit(); err != nil {
			return err
		}
	}
	if p.runs(GroupFWU) && opt.Device != nil {
		if err := p.openFWU(); err != nil {
			return err
		}
	}
	return p.register()
}

// register adds the services this process opened to its server.
func (p *Platform) register() error {
	var rs []interface{ Register(*spe.Server) error }
	if p.Crypto != nil {
		rs = append(rs, p.Crypto)
	}
	if p.ITS != nil {
		rs = append(rs, p.ITS)
	}
	if p.PS != nil {
		rs = append(rs, p.PS)
	}
	if p.Attestation != nil {
		rs = append(rs, p.Attestation)
	}
	if p.Audit != nil {
		rs = append(rs, p.Audit)
	}
	if p.FWU != nil {
		rs = append(rs, p.bootStateHandler())
	}
	for _, r := range rs {
		if err := r.Register(p.Server); err != nil {
			return err
		}
	}
	return nil
}

// loadHUK loads the hardware unique key (or its TPM) into this process:
// isolation levels 1 and 2, where the PRoT is one process.
func (p *Platform) loadHUK() error {
	opt := p.opt
	var err error
	if err := checkRoT(opt.StateDir, opt.RoT); err != nil {
		return err
	}
	if opt.RoT != nil {
		if p.huk, err = tpmHUK(opt.RoT); err != nil {
			return err
		}
		return nil
	}
	if err := ensureHUK(opt.StateDir, opt.Rand, opt.StorageFault, false); err != nil {
		return err
	}
	if p.huk, err = crypto.LoadOrCreateHUK(filepath.Join(opt.StateDir, HUKFile), opt.Rand); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

func (p *Platform) openCrypto() error {
	opt := p.opt
	copt := crypto.Options{StateDir: opt.StateDir, HUK: p.huk, Rand: opt.Rand, Limits: opt.CryptoLimits}
	if opt.RoT != nil {
		copt.Vault = opt.RoT // persistent PSA keys of psa.LocationRampartTPM
	}
	if p.huk == nil {
		k, err := p.derive(CryptoPartitionID, crypto.StoreKeyLabel)
		if err != nil {
			return fmt.Errorf("platform: crypto store key: %w", err)
		}
		defer clear(k)
		copt.StoreKey = k
	}
	var err error
	if p.Crypto, err = crypto.New(copt); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

func (p *Platform) openPS() error {
	opt := p.opt
	psStore, err := storage.Open(filepath.Join(opt.StateDir, PSDir), storage.Options{Fault: opt.StorageFault})
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	popt := ps.Options{Store: psStore, ITS: p.itsFor(ps.PartitionClientID), HUK: p.huk, Rand: opt.Rand, Limits: opt.PSLimits}
	if p.huk == nil {
		popt.Keys = func(label string) ([]byte, error) { return p.derive(ps.PartitionClientID, label) }
	}
	if p.PS, err = ps.New(popt); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	return nil
}

// HUK returns the hardware unique key (provisioning and tests only).
func (p *Platform) HUK() []byte { return p.huk }

// ExternalIAK returns the TPM's attestation key source, or nil with the
// file root (provisioning creates the IAK there).
func (p *Platform) ExternalIAK() attestation.ExternalIAK {
	if p.opt.RoT == nil {
		return nil
	}
	return tpmIAK{p.opt.RoT}
}

// AttestStore returns the attestation store (provisioning only).
func (p *Platform) AttestStore() *storage.Store { return p.attestS }

// LastBoot returns the latest boot's result (nil without a Device).
func (p *Platform) LastBoot() *boot.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *Platform) bootRecords() []swcomponent.Component {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last != nil {
		return p.last.Records()
	}
	return p.opt.BootRecords
}

// keyFuses are the bootloader's release-key fuses now (the OTP block the
// last boot left, docs/boot.md §7a), for the attestation token.
func (p *Platform) keyFuses() *attest.KeyFuses {
	p.devLock.Lock()
	f := p.opt.Device.Boot.Counters().KeyFuses
	p.devLock.Unlock()
	return &attest.KeyFuses{Pending: f.Pending, Activated: f.Activated, Retiring: f.Retiring, Revoked: f.Revoked}
}

// Reboot runs the bootloader again (as a device reset would) and makes its
// measurements the ones attestation reports.
func (p *Platform) Reboot() (*boot.Result, error) {
	if p.opt.Device == nil {
		return nil, errors.New("platform: no device to reboot")
	}
	p.devLock.Lock()
	res, err := p.opt.Device.Boot.Boot()
	p.devLock.Unlock()
	if err != nil {
		return res, err
	}
	p.mu.Lock()
	p.last = res
	p.mu.Unlock()
	return res, p.measureBoot()
}

// keyHolders are the partitions decommissioning retires from the running
// server: every one holds keys, secrets or device state in memory, or acts
// on the device (FWU). Lifecycle and status stay, as after a restart.
var keyHolders = []string{
	crypto.Manifest.Name, its.Manifest.Name, ps.Manifest.Name,
	attestation.Manifest.Name, auditsvc.Manifest.Name, fwu.Manifest.Name,
}

// shutdowners returns the platform's key-holding services that exist.
func (p *Platform) shutdowners() []spe.Shutdowner {
	var out []spe.Shutdowner
	if p.Crypto != nil {
		out = append(out, p.Crypto)
	}
	if p.ITS != nil {
		out = append(out, p.ITS)
	}
	if p.PS != nil {
		out = append(out, p.PS)
	}
	if p.Attestation != nil {
		out = append(out, p.Attestation)
	}
	if p.Audit != nil {
		out = append(out, p.Audit)
	}
	if p.FWU != nil {
		out = append(out, p.FWU)
	}
	return out
}

// destroy is the decommissioning destroyer. In the running process it
// retires every key-holding service (their calls in progress finish, then
// each wipes what it holds in memory and refuses every later call; new
// connections are refused as after a restart); then it shreds the HUK, the
// crypto key store, ITS, PS, the attestation store (IAK, audit key), the
// audit log and FWU state, and overwrites the platform's copy of the HUK.
// At a start of a decommissioned device no service is registered yet and
// only the shredding runs.
func (p *Platform) destroy() error {
	if p.Server != nil {
		p.Server.Retire(keyHolders...)
	}
	// Services that never reached the server (an Open that failed half
	// way) are shut down too; Shutdown is idempotent.
	for _, sd := range p.shutdowners() {
		sd.Shutdown()
	}
	if p.opt.Group == GroupLifecycle {
		// Level 3: the SPM kills every other PRoT process (none holds a
		// key any more) and starts it again on the decommissioned device,
		// where it shreds its own state (shredOwn) and opens nothing.
		return p.retireProcesses()
	}
	dir := p.opt.StateDir
	var errs []error
	errs = append(errs, storage.ShredFile(filepath.Join(dir, HUKFile)))
	if p.opt.RoT != nil {
		// The keys live only in the TPM: evicting them (the HUK, the IAK
		// and the PSA keys of the TPM location) is the shredding that
		// holds against a copy of the disk.
		errs = append(errs, p.opt.RoT.Clear())
	}
	if p.ITS != nil {
		if _, onFlash := p.ITS.Store().(*storage.FlashStore); onFlash {
			errs = append(errs, p.ITS.Store().Destroy())
		}
	}
	for _, d := range []string{KeysDir, ITSDir, PSDir, AttestDir, AuditDir, FWUDir} {
		errs = append(errs, storage.Shred(filepath.Join(dir, d)))
	}
	clear(p.huk)
	if p.opt.RetireInSPM != nil && p.Server != nil {
		// (At a start on a decommissioned device the SPM learns the state
		// itself, before this process has answered ready.)
		errs = append(errs, p.opt.RetireInSPM())
	}
	return errors.Join(errs...)
}

// Close closes the audit log (sealing it with a checkpoint).
func (p *Platform) Close() error {
	if p.Audit != nil {
		return p.Audit.Close()
	}
	return nil
}
