package sim

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/trust"
)

// MfrName is the simulated manufacturer: the kid of its signed
// endorsements and the name the fleet server trusts its key under.
const MfrName = "sim"

// importWorkers bounds concurrent endorsement imports.
const importWorkers = 4

// Endorse imports each device's endorsement into the fleet exactly as the
// factory signed it (the device's SignedEndorsementFile, what `rampart spe
// provision` writes), as `rampart fleet endorsements import` does: nothing
// is signed again.
func (f *Fleet) Endorse(ctx context.Context, devs []*Device) error {
	var mu sync.Mutex
	var errs error
	parallel(importWorkers, len(devs), func(i int) {
		signed, err := os.ReadFile(filepath.Join(devs[i].Dir, SignedEndorsementFile))
		if err == nil {
			err = f.importSigned(ctx, signed)
		}
		if err != nil {
			mu.Lock()
			errs = errors.Join(errs, fmt.Errorf("sim: endorsement of device %d: %w", devs[i].Index, err))
			mu.Unlock()
		}
	})
	return errs
}

func (f *Fleet) importSigned(ctx context.Context, signed []byte) error {
	if f.Server == nil {
		// Another process runs the server: import through the admin API.
		_, err := f.admin().ImportEndorsements(ctx, signed)
		return err
	}
	_, err := trust.Import(ctx, f.Server.Store(), signed, map[string]*ecdsa.PublicKey{MfrName: &f.Mfr.PublicKey}, MfrName)
	return err
}

// PublishJob delivers a firmware-update job to a device: signed by the
// fleet's job signer for that device, a retained QoS 1 message on
// devices/<id>/jobs (docs/agent.md), published by the fleet broker's own
// client.
func (f *Fleet) PublishJob(ctx context.Context, deviceID string, j deviceproto.Job) error {
	if f.Server == nil {
		return fmt.Errorf("sim: job for %s: the server runs in another process", deviceID)
	}
	payload, bound, err := f.Server.JobSigner().SignJob(deviceID, j)
	if err != nil {
		return fmt.Errorf("sim: job for %s: %w", deviceID, err)
	}
	if err := f.Server.Broker().PublishJob(deviceID, payload, time.UnixMilli(bound.Expires)); err != nil {
		return fmt.Errorf("sim: job for %s: %w", deviceID, err)
	}
	return nil
}
