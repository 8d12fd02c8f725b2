package cli

import (
	"rampart/spe"
	"rampart/spe/crypto"
	"rampart/spe/platform"
)

// speAllServices registers every SPE service of package platform (crypto,
// ITS, PS, attestation, audit, lifecycle and, with RAMPART_SPE_DEVICE set
// to a bootloader device directory, firmware update) on a server: what
// `rampart spe serve` runs.
type speAllServices struct {
	stateDir, deviceDir string
}

// speServices is the service set of `rampart spe serve`: the state
// directory comes from the crypto options serve used to build alone.
func speServices(env *Env, opt crypto.Options) (*speAllServices, error) {
	return &speAllServices{stateDir: opt.StateDir, deviceDir: env.Getenv("RAMPART_SPE_DEVICE")}, nil
}

// Register opens the platform on srv. The device and the platform stay open
// for the life of the process.
func (s *speAllServices) Register(srv *spe.Server) error {
	var dev *platform.Device
	if s.deviceDir != "" {
		var err error
		if dev, err = platform.OpenDevice(s.deviceDir); err != nil {
			return err
		}
	}
	_, err := platform.Open(platform.Options{StateDir: s.stateDir, Device: dev, Into: srv})
	return err
}
