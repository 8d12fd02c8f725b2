package sim

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"rampart/adminapi"
)

// StartCampaign uploads img through the admin API and starts a one-phase
// campaign to every active device, with up to n devices updating at once
// and no failure threshold (faults are expected). Devices in tamper are
// served the image with one byte flipped (the engine's fault-injection
// hook).
func (f *Fleet) StartCampaign(ctx context.Context, id string, img []byte, tamper map[string]bool, n int) error {
	if f.Server == nil {
		return errors.New("sim: campaign: the server runs in another process")
	}
	c := f.admin()
	rel, _, err := c.UploadRelease(ctx, img, "", false)
	if err != nil {
		return fmt.Errorf("sim: campaign: upload: %w", err)
	}
	if len(tamper) > 0 {
		f.Server.Campaigns().SetTamper(func(deviceID string, data []byte) []byte {
			if !tamper[deviceID] {
				return data
			}
			b := bytes.Clone(data)
			b[len(b)/2] ^= 1
			return b
		})
	}
	spec := adminapi.CampaignSpec{ID: id, Release: hex.EncodeToString(rel.Digest), MaxConcurrent: n,
		Phases: []adminapi.CampaignPhase{{Name: "all", Percent: 100, FailureThreshold: 1}}}
	if _, err := c.CreateCampaign(ctx, spec); err != nil {
		return fmt.Errorf("sim: campaign: create: %w", err)
	}
	return nil
}

// CampaignStatus returns a campaign's summary from the admin API.
func (f *Fleet) CampaignStatus(ctx context.Context, id string) (*adminapi.CampaignSummary, error) {
	return f.admin().Campaign(ctx, id, false)
}
