package cli

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"rampart/spe"
	"rampart/spe/crypto"
	"rampart/spe/platform"
	_ "rampart/spe/sensor" // the example application partition (docs/spe-isolation.md)
	"rampart/spe/storage/its"
)

// speAllServices registers every SPE service of package platform (crypto,
// ITS, PS, attestation, audit, lifecycle and, with a device, firmware
// update) on a server: what `rampart spe serve` runs. Its --device flag
// (fallback RAMPART_SPE_DEVICE) names the bootloader device directory (FWU,
// boot records); the environment adds what the JSON configuration does not
// say (yet):
//
//	RAMPART_SPE_ITS_FLASH=1       keep ITS in the device's "its" flash area
//	RAMPART_SPE_LIFECYCLE_ADMINS  client IDs that may change the lifecycle, e.g. "-1,-2"
//	RAMPART_SPE_AUDIT_READERS     client IDs that may read the audit log
type speAllServices struct {
	opt       platform.Options
	deviceDir string
}

// speServices is the service set of `rampart spe serve` for cfg: its state
// directory and its services' quotas.
func speServices(env *Env, cfg *spe.Config, device string) (*speAllServices, error) {
	admins, err := speClientList(env, "RAMPART_SPE_LIFECYCLE_ADMINS")
	if err != nil {
		return nil, err
	}
	readers, err := speClientList(env, "RAMPART_SPE_AUDIT_READERS")
	if err != nil {
		return nil, err
	}
	return &speAllServices{
		opt: platform.Options{StateDir: cfg.StateDir, LifecycleAdmins: admins, AuditReaders: readers,
			ITSOnFlash:   env.Getenv("RAMPART_SPE_ITS_FLASH") == "1",
			CryptoLimits: speCryptoLimits(cfg.Limits.Crypto),
			ITSLimits: its.Limits{MaxAssetSize: cfg.Limits.ITS.MaxObjectSize, MaxAssets: cfg.Limits.ITS.MaxObjectsPerClient,
				MaxSecureAssets: cfg.Limits.ITS.MaxObjectsPerSecurePartition},
			PSLimits: its.Limits{MaxAssetSize: cfg.Limits.PS.MaxObjectSize, MaxAssets: cfg.Limits.PS.MaxObjectsPerClient}},
		deviceDir: device,
	}, nil
}

func speCryptoLimits(l spe.CryptoLimits) crypto.Limits {
	return crypto.Limits{VolatileKeysPerClient: l.VolatileKeysPerClient, VolatileBytesPerClient: l.VolatileBytesPerClient,
		VolatileKeys: l.VolatileKeys, PersistentKeysPerClient: l.PersistentKeysPerClient}
}

// speClientList parses a comma-separated list of non-zero client IDs.
func speClientList(env *Env, name string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(env.Getenv(name), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseInt(f, 0, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s: %q is not a client ID", name, f)
		}
		ids = append(ids, int32(n))
	}
	return ids, nil
}

// Start opens the SPE's partitions at isolation level: at level 1 on srv,
// in this process; at levels 2 and 3 in partition processes (this binary,
// `rampart spe partition`) that srv routes to.
func (s *speAllServices) Start(srv *spe.Server, cfg *spe.Config) error {
	o := s.opt
	spec := platform.Spec{StateDir: o.StateDir, DeviceDir: s.deviceDir, ITSOnFlash: o.ITSOnFlash, LifecycleAdmins: o.LifecycleAdmins,
		AuditReaders: o.AuditReaders, CryptoLimits: o.CryptoLimits, ITSLimits: o.ITSLimits, PSLimits: o.PSLimits, AppsDir: cfg.AppsDir}
	if cfg.Level() == 1 {
		if err := s.Register(srv); err != nil {
			return err
		}
		return platform.RegisterApplications(srv, spec)
	}
	_, err := platform.StartIsolated(srv, platform.Isolated{Level: cfg.Level(), Spec: spec, Command: speSelfCommand, Users: cfg.PartitionUIDs})
	return err
}

// speSelfCommand runs this binary as a partition process. Tests replace
// it: their binary is not rampart.
var speSelfCommand = func(group string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command(exe, "spe", "partition", "--group", group, "--fd", "3")
	cmd.Stderr = os.Stderr
	return cmd
}

// newSpePartitionCmd is the hidden body of a partition process: the SPM
// (`rampart spe serve` at isolation level 2 or 3) starts it with its link
// on a file descriptor and tells it over the link what to run.
func newSpePartitionCmd(env *Env) *cobra.Command {
	var fd int
	var group string
	cmd := &cobra.Command{
		Use:    "partition",
		Short:  "Run partitions of the SPE in this process (started by `rampart spe serve`, never by hand)",
		Hidden: true,
		Args:   exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fd < 3 {
				return usageError("spe partition needs --fd (3 or more): its link to the partition manager")
			}
			c, err := net.FileConn(os.NewFile(uintptr(fd), "spm-link"))
			if err != nil {
				return fail(ExitError, fmt.Errorf("spe partition %s: %w", group, err), "run by `rampart spe serve` only")
			}
			if err := platform.RunPartition(c); err != nil {
				return fail(ExitError, fmt.Errorf("spe partition %s: %w", group, err), "")
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&fd, "fd", 0, "file descriptor of the link to the partition manager")
	cmd.Flags().StringVar(&group, "group", "", "the partitions to run (a label for ps; the partition manager says what to run)")
	return cmd
}

// Register opens the platform on srv. The device and the platform stay open
// for the life of the process.
func (s *speAllServices) Register(srv *spe.Server) error {
	if s.deviceDir != "" {
		dev, err := platform.OpenDevice(s.deviceDir)
		if err != nil {
			return err
		}
		s.opt.Device = dev
	}
	s.opt.Into = srv
	_, err := platform.Open(s.opt)
	return err
}
