package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"

	"rampart/agent"
	"rampart/attest"
	"rampart/fleet/api"
	"rampart/fleet/trust"
)

// Endorse imports the devices' endorsements into the fleet, signed by the
// manufacturer key, as `rampart fleet endorsements import` does.
func (f *Fleet) Endorse(ctx context.Context, devs []*Device) error {
	list := &attest.EndorsementList{}
	for _, d := range devs {
		if err := list.Add(d.Endorse); err != nil {
			return fmt.Errorf("sim: endorsement of device %d: %w", d.Index, err)
		}
	}
	signed, err := trust.SignEndorsements(list, "sim", f.Mfr, f.Rand)
	if err != nil {
		return err
	}
	if f.Server == nil {
		// Another process runs the server: import through the admin API.
		c := api.NewClient(f.AdminURL, AdminToken, f.roots)
		return c.Post(ctx, "/api/v1/endorsements", nil, bytes.NewReader(signed), "application/octet-stream", nil)
	}
	_, err = trust.Import(ctx, f.Server.Store(), signed, map[string]*ecdsa.PublicKey{"sim": &f.Mfr.PublicKey}, "sim")
	return err
}

// PublishJob delivers a firmware-update job to a device: a retained QoS 1
// message on devices/<id>/jobs (docs/agent.md), published by the fleet
// broker's own client.
func (f *Fleet) PublishJob(ctx context.Context, deviceID string, j agent.Job) error {
	payload, err := j.Marshal()
	if err != nil {
		return err
	}
	if f.Server == nil {
		return fmt.Errorf("sim: job for %s: the server runs in another process", deviceID)
	}
	if err := f.Server.Broker().PublishJob(deviceID, payload); err != nil {
		return fmt.Errorf("sim: job for %s: %w", deviceID, err)
	}
	return nil
}
