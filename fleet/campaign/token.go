package campaign

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
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

// outcomeNonce is the server's challenge for the attestation token of the
// device's outcome, sent in its job: HMAC-SHA256 under the campaign's key
// over the campaign ID, the device ID and the time the device was notified
// (Unix ms, as the store keeps it). Only the server can make it, it is new
// for every notification, and it survives a restart without being stored.
// A token over any other nonce (an older token, one the device chose) does
// not verify a report.
func (c *camp) outcomeNonce(deviceID string, notified time.Time) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("rampart-campaign-outcome-v1\x00" + c.rec.ID + "\x00" + deviceID + "\x00" + strconv.FormatInt(notified.UnixMilli(), 10)))
	return m.Sum(nil)
}

// Job returns the signed job message the engine publishes to a device of
// an active campaign, download token included (a capability: show it
// only to whom may download as the device).
func (e *Engine) Job(campaignID, deviceID string) ([]byte, error) {
	base := e.cfg.ImageBase()
	e.mu.Lock()
	c := e.camps[campaignID]
	if c == nil || c.devs[deviceID] == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("campaign: %s: no active campaign with device %s: %w", campaignID, deviceID, ErrState)
	}
	j := c.job(base, c.devs[deviceID])
	e.mu.Unlock()
	return e.cfg.Jobs.Sign(deviceID, j)
}
