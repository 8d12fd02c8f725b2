package campaign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// downloadToken is the device's capability to fetch the campaign's image
// and move its own progress: HMAC-SHA256 under the campaign's key over the
// campaign ID, the device ID and the image digest, in hex.
func (c *camp) downloadToken(deviceID string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("rampart-campaign-download-v1\x00" + c.rec.ID + "\x00" + deviceID + "\x00" + c.imageSHA))
	return hex.EncodeToString(m.Sum(nil))
}

// validToken reports whether token is the device's token for this
// campaign's image, in constant time.
func (c *camp) validToken(deviceID, token string) bool {
	want := c.downloadToken(deviceID)
	return len(token) == len(want) && hmac.Equal([]byte(token), []byte(want))
}

// Job returns the job message the engine publishes to a device of an
// active campaign, download token included (a capability: show it only
// to whom may download as the device).
func (e *Engine) Job(campaignID, deviceID string) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.camps[campaignID]
	if c == nil || c.devs[deviceID] == nil {
		return nil, fmt.Errorf("campaign: %s: no active campaign with device %s: %w", campaignID, deviceID, ErrState)
	}
	return c.job(e.cfg.ImageBase(), deviceID)
}
