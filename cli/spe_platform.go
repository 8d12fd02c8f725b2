package cli

import (
	"fmt"
	"strconv"
	"strings"

	"rampart/spe"
	"rampart/spe/crypto"
	"rampart/spe/platform"
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
