package sim

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"rampart/fleet/api"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
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
	c := api.NewClient(f.AdminURL, AdminToken, f.roots)
	var rel store.Release
	if err := c.Post(ctx, "/api/v1/releases", nil, bytes.NewReader(img), "application/octet-stream", &rel); err != nil {
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
	spec := fmt.Sprintf(`{"id":%q,"release":%q,"max_concurrent":%d,"phases":[{"name":"all","percent":100,"failure_threshold":1}]}`,
		id, hex.EncodeToString(rel.Component.MeasurementValue), n)
	if err := c.Post(ctx, "/api/v1/campaigns", nil, bytes.NewReader([]byte(spec)), "application/json", nil); err != nil {
		return fmt.Errorf("sim: campaign: create: %w", err)
	}
	return nil
}

// CampaignStatus returns a campaign's summary from the admin API.
func (f *Fleet) CampaignStatus(ctx context.Context, id string) (*campaign.Summary, error) {
	var s campaign.Summary
	c := api.NewClient(f.AdminURL, AdminToken, f.roots)
	if err := c.Get(ctx, "/api/v1/campaigns/"+id, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
