package platform

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"

	"rampart/internal/secfile"
	"rampart/ipc"
	"rampart/spe"
	"rampart/spe/attestation"
	"rampart/spe/auditsvc"
	"rampart/spe/crypto"
	"rampart/spe/fwu"
	"rampart/spe/lifecycle"
	"rampart/spe/storage"
	"rampart/spe/storage/its"
	"rampart/spe/storage/ps"
)

// Spec is the serializable part of Options: what a partition process needs
// to open its partitions (isolation levels 2 and 3). The SPM sends it to
// each process it starts.
type Spec struct {
	StateDir        string        `json:"state_dir"`
	DeviceDir       string        `json:"device_dir,omitempty"`
	ITSOnFlash      bool          `json:"its_on_flash,omitempty"`
	LifecycleAdmins []int32       `json:"lifecycle_admins,omitempty"`
	AuditReaders    []int32       `json:"audit_readers,omitempty"`
	CryptoLimits    crypto.Limits `json:"crypto_limits"`
	ITSLimits       its.Limits    `json:"its_limits"`
	PSLimits        its.Limits    `json:"ps_limits"`
	// AppsDir holds one directory per application partition (default
	// StateDir/apps). With partition users it must lie outside StateDir,
	// which only the PRoT's users may enter.
	AppsDir string `json:"apps_dir,omitempty"`
	// UserPerPartition (level 3, set by the SPM): the PRoT processes run
	// as several users, each owning its own subdirectories of StateDir,
	// which belongs to the root key partition's user and is 0711.
	UserPerPartition bool `json:"user_per_partition,omitempty"`
	// Decommissioned (level 3, set by the SPM for each start of a process
	// once the lifecycle partition has decommissioned the device): the
	// process shreds its own state and opens nothing.
	Decommissioned bool `json:"decommissioned,omitempty"`
}

func (s Spec) appsDir() string {
	if s.AppsDir != "" {
		return s.AppsDir
	}
	return filepath.Join(s.StateDir, "apps")
}

// Options returns the platform options of s, opening its device.
func (s Spec) Options() (Options, error) {
	opt := Options{StateDir: s.StateDir, ITSOnFlash: s.ITSOnFlash, LifecycleAdmins: s.LifecycleAdmins,
		AuditReaders: s.AuditReaders, CryptoLimits: s.CryptoLimits, ITSLimits: s.ITSLimits, PSLimits: s.PSLimits,
		SharedStateDir: s.UserPerPartition, Decommissioned: s.Decommissioned}
	if s.DeviceDir != "" {
		dev, err := OpenDevice(s.DeviceDir)
		if err != nil {
			return opt, err
		}
		opt.Device = dev
	}
	return opt, nil
}

// Process groups: what one partition process runs.
const (
	GroupPRoT = "prot" // every PSA root-of-trust partition at level 2: the HUK and the IAK live here alone
	GroupApps = "app"  // every application partition (level 2)
	groupApp  = "app:" // one application partition, by manifest name (level 3)
)

type hello struct {
	Group string `json:"group"`
	Spec  Spec   `json:"spec"`
}

// PRoTManifests are the partitions of the PSA root of trust, which run
// together in the PRoT process at level 2 (level 3: level3Groups).
func PRoTManifests(withDevice bool) []spe.PartitionManifest {
	ms := []spe.PartitionManifest{lifecycle.Manifest, crypto.Manifest, its.Manifest, ps.Manifest, attestation.Manifest, auditsvc.Manifest}
	if withDevice {
		ms = append(ms, fwu.Manifest)
	}
	return ms
}

// Isolated is an SPE at isolation level 2 or 3.
type Isolated struct {
	Level int
	Spec  Spec
	// Command runs one process group (GroupPRoT, GroupApps, or "app:" and a
	// partition name); the link is its file descriptor 3.
	Command func(group string) *exec.Cmd
	// Users, when not empty, maps process groups to the uid (and gid) each
	// runs as: the SPM must run as root; it gives each group's state to its
	// user before starting it (partition_uids in the configuration).
	Users map[string]int
}

// StartIsolated makes srv the partition manager of an SPE at isolation
// level 2 or 3: it starts the partition processes and registers their
// services on srv, which routes each call to its process. srv itself
// holds no partition's secrets.
func StartIsolated(srv *spe.Server, iso Isolated) ([]*spe.Remote, error) {
	if iso.Level != 2 && iso.Level != 3 {
		return nil, fmt.Errorf("platform: isolation level %d has no partition processes", iso.Level)
	}
	var remotes []*spe.Remote
	retire := &spmRetire{srv: srv}
	if iso.Level == 3 {
		var err error
		if iso.Spec.UserPerPartition, err = prepareUsers(iso.Spec, iso.Users); err != nil {
			return nil, err
		}
	}
	start := func(group string, ms []spe.PartitionManifest, parts map[int32]*spe.PartitionManifest) error {
		helloOf := func() []byte {
			spec := iso.Spec
			spec.Decommissioned = retire.done.Load()
			b, _ := json.Marshal(hello{Group: group, Spec: spec}) // a struct of plain fields
			return b
		}
		command := func() *exec.Cmd { return iso.Command(group) }
		if uid, ok := userOf(iso.Users, group); ok {
			var err error
			if command, err = asUser(iso.Spec, group, ms, uid, command); err != nil {
				return err
			}
		}
		r, err := srv.StartRemote(spe.RemoteOptions{Name: group, Manifests: ms, Partitions: parts, HelloFunc: helloOf, Command: command})
		if err != nil {
			return err
		}
		remotes = append(remotes, r)
		return nil
	}
	if iso.Level == 2 {
		// The lifecycle partition, in the PRoT process, may call the SPM's
		// retire service (and audit, in the same process, never through it).
		retire.level2 = true
		if err := srv.Register(spmRetireManifest, map[string]spe.Handler{"SPM_RETIRE": retire}); err != nil {
			return nil, err
		}
		if err := start(GroupPRoT, PRoTManifests(iso.Spec.DeviceDir != ""), map[int32]*spe.PartitionManifest{LifecyclePartitionID: &lifecycle.Manifest}); err != nil {
			return remotes, err
		}
		if err := retire.learnState(); err != nil {
			return remotes, err
		}
		if retire.done.Load() {
			srv.Retire(keyHolders...) // a decommissioned device serves none, as at levels 1 and 3
		}
	} else {
		if err := srv.Register(spmRetireManifest, map[string]spe.Handler{"SPM_RETIRE": retire}); err != nil {
			return nil, err
		}
		for _, g := range level3Groups(iso.Spec) {
			if err := start(g.name, g.manifests, g.callers); err != nil {
				return remotes, err
			}
			retire.add(remotes[len(remotes)-1])
			if g.name == GroupLifecycle {
				if err := retire.learnState(); err != nil {
					return remotes, err
				}
			}
		}
	}
	apps := spe.Applications()
	if iso.Level == 2 && len(apps) > 0 {
		var ms []spe.PartitionManifest
		parts := map[int32]*spe.PartitionManifest{}
		for _, a := range apps {
			ms = append(ms, a.Manifest)
			parts[a.ID] = &a.Manifest
		}
		return remotes, start(GroupApps, ms, parts)
	}
	for _, a := range apps {
		if err := start(groupApp+a.Manifest.Name, []spe.PartitionManifest{a.Manifest}, map[int32]*spe.PartitionManifest{a.ID: &a.Manifest}); err != nil {
			return remotes, err
		}
	}
	return remotes, nil
}

// RegisterApplications registers every application partition on srv, in
// the SPE's own process (isolation level 1): each calls other services
// through an in-process session limited to its dependencies.
func RegisterApplications(srv *spe.Server, spec Spec) error {
	for _, a := range spe.Applications() {
		c, err := srv.LocalPartition(a.ID, &a.Manifest)
		if err != nil {
			return err
		}
		if err := startApp(srv, a, c, spec.appsDir()); err != nil {
			return err
		}
	}
	return nil
}

// startApp builds one application partition and registers it on srv.
func startApp(srv *spe.Server, a spe.Application, caller ipc.Transport, appsDir string) error {
	dir := filepath.Join(appsDir, a.Manifest.Name)
	if err := secfile.MkdirAll(dir); err != nil {
		return fmt.Errorf("platform: application %s: %w", a.Manifest.Name, err)
	}
	if err := storage.PrivateDir(dir); err != nil {
		return fmt.Errorf("platform: application %s: %w", a.Manifest.Name, err)
	}
	hs, err := a.New(spe.AppEnv{Caller: caller, StateDir: dir})
	if err != nil {
		return fmt.Errorf("platform: application %s: %w", a.Manifest.Name, err)
	}
	return srv.Register(a.Manifest, hs)
}

// RunPartition is the body of a partition process (`rampart spe partition`):
// conn is its link to the SPM. It opens what the SPM's hello names, drops
// privileges (spe.Sandbox), then serves until the link ends.
func RunPartition(conn io.ReadWriteCloser) error {
	link := spe.NewPartitionLink(conn, ipc.Limits{})
	b, err := link.Hello()
	if err != nil {
		return err
	}
	var h hello
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("platform: partition hello: %w", err)
	}
	srv := spe.New(spe.Options{})
	if isLevel3PRoT(h.Group) && h.Spec.Decommissioned {
		// Decommissioning restarted it: it shreds its own state before it
		// answers ready (the SPM waits for that), and serves nothing.
		err := shredOwn(h.Group, h.Spec)
		if err == nil {
			err = spe.SandboxProfile(spe.WithFiles)
		}
		return link.Serve(srv, err)
	}
	if isLevel3PRoT(h.Group) {
		// It opens through calls to other partitions, which need the link
		// served: it says ready first, and calls wait until it opened.
		var p *Platform
		defer func() {
			if p != nil {
				p.Close()
			}
		}()
		return link.ServeOpening(srv, func() error {
			var err error
			if p, err = openLevel3(srv, link, h); err != nil {
				return err
			}
			profile := spe.WithFiles
			if h.Group == GroupRootKey {
				profile = spe.NoFiles // it read the HUK before: it opens nothing again
			}
			return spe.SandboxProfile(profile)
		})
	}
	closer, err := openGroup(srv, link, h)
	if closer != nil {
		defer closer()
	}
	if err == nil {
		err = spe.Sandbox()
	}
	return link.Serve(srv, err)
}

// openLevel3 opens one PRoT process group of level 3 on srv.
func openLevel3(srv *spe.Server, link *spe.PartitionLink, h hello) (*Platform, error) {
	spec := h.Spec
	if h.Group != GroupFWU {
		spec.DeviceDir = "" // only FWU's process acts on the device
	}
	opt, err := spec.Options()
	if err != nil {
		return nil, err
	}
	opt.Into, opt.Group, opt.Caller = srv, h.Group, link.Caller
	opt.FWUMeasures = h.Group == GroupAttestation && h.Spec.DeviceDir != ""
	return Open(opt)
}

// openGroup registers the partitions of one process group on srv.
func openGroup(srv *spe.Server, link *spe.PartitionLink, h hello) (func(), error) {
	switch {
	case h.Group == GroupPRoT:
		opt, err := h.Spec.Options()
		if err != nil {
			return nil, err
		}
		opt.Into = srv
		opt.RetireInSPM = func() error { return retireInSPM(link.Caller(LifecyclePartitionID)) }
		p, err := Open(opt)
		if err != nil {
			return nil, err
		}
		return func() { p.Close() }, nil
	case h.Group == GroupApps:
		for _, a := range spe.Applications() {
			if err := startApp(srv, a, link.Caller(a.ID), h.Spec.appsDir()); err != nil {
				return nil, err
			}
		}
		return nil, nil
	case len(h.Group) > len(groupApp) && h.Group[:len(groupApp)] == groupApp:
		for _, a := range spe.Applications() {
			if a.Manifest.Name == h.Group[len(groupApp):] {
				return nil, startApp(srv, a, link.Caller(a.ID), h.Spec.appsDir())
			}
		}
	}
	return nil, fmt.Errorf("platform: no partition group %q in this binary", h.Group)
}
