package campaign

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"

	"rampart/fleet/store"
)

// DownloadKeySize is the size of a campaign's download key.
const DownloadKeySize = 32

// keySecretSize is the size of Config.KeySecret (an AES-256 key).
const keySecretSize = 32

// storedSpec is what the campaigns row keeps: the operator's spec and the
// campaign's download key sealed under Config.KeySecret (AES-256-GCM, a
// random nonce, the campaign ID as additional data), which never leaves the
// server (Status shows the parsed Spec only). Without KeySecret, which the
// server derives from the CA key and never stores, the row cannot give the
// key, so a copy of the database cannot mint download tokens.
type storedSpec struct {
	Spec
	SealedKey []byte `json:"download_key_sealed,omitempty"`
	// DownloadKey is the key in clear, as versions before sealing stored
	// it: read once to seal it (loadKey), never written.
	DownloadKey []byte `json:"download_key,omitempty"`
}

// newDownloadKey draws a campaign's download key from the engine's Rand.
func (e *Engine) newDownloadKey() ([]byte, error) {
	k := make([]byte, DownloadKeySize)
	if _, err := e.cfg.Rand.Read(k); err != nil {
		return nil, fmt.Errorf("campaign: download key: %w", err)
	}
	return k, nil
}

// keyAAD binds a sealed key to its campaign: moved to another row it does
// not open.
func keyAAD(campaignID string) []byte {
	return []byte("rampart-campaign-download-key-v1\x00" + campaignID)
}

func (e *Engine) keyAEAD() (cipher.AEAD, error) {
	b, err := aes.NewCipher(e.cfg.KeySecret)
	if err != nil {
		return nil, fmt.Errorf("campaign: key secret: %w", err)
	}
	return cipher.NewGCM(b)
}

// marshalStored encodes the row's spec with key sealed.
func (e *Engine) marshalStored(campaignID string, sp Spec, key []byte) ([]byte, error) {
	aead, err := e.keyAEAD()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := e.cfg.Rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("campaign: seal download key: %w", err)
	}
	return json.Marshal(storedSpec{Spec: sp, SealedKey: aead.Seal(nonce, nonce, key, keyAAD(campaignID))})
}

func (e *Engine) openKey(campaignID string, sealed []byte) ([]byte, error) {
	aead, err := e.keyAEAD()
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("campaign: sealed download key: truncated")
	}
	n := aead.NonceSize()
	k, err := aead.Open(nil, sealed[:n], sealed[n:], keyAAD(campaignID))
	if err != nil || len(k) != DownloadKeySize {
		return nil, errors.New("campaign: sealed download key does not open with this server's key secret")
	}
	return k, nil
}

// loadKey returns a loaded campaign's download key. A sealed key is opened.
// A key stored in clear (before sealing) is kept, so that the job URLs
// devices hold stay valid, and the row is rewritten with it sealed. A
// campaign with no key (before download keys) or one whose sealed key does
// not open (the CA, from which the key secret derives, was replaced) gets a
// new key, stored sealed: New publishes its in-flight jobs again, and URLs
// made with the old key are refused.
func (e *Engine) loadKey(ctx context.Context, r *store.CampaignRecord, ss storedSpec) ([]byte, error) {
	if ss.SealedKey != nil && ss.DownloadKey == nil {
		k, err := e.openKey(r.ID, ss.SealedKey)
		if err == nil {
			return k, nil
		}
		if e.clustered {
			// Another node sealed it: replacing it here would break
			// every job URL the others published. The nodes share one
			// CA and so one key secret; this one does not.
			return nil, fmt.Errorf("campaign: %s: %w (is this node's CA the cluster's?)", r.ID, err)
		}
		e.cfg.Log.Warn("campaign download key replaced: its jobs are published again with new URLs", "campaign", r.ID, "reason", err.Error())
	}
	k := ss.DownloadKey
	if len(k) == DownloadKeySize {
		e.cfg.Log.Info("campaign download key sealed (it was stored in clear)", "campaign", r.ID)
	} else {
		var err error
		if k, err = e.newDownloadKey(); err != nil {
			return nil, err
		}
		if ss.SealedKey == nil {
			e.cfg.Log.Warn("campaign had no stored download key: a new one is stored, its jobs are published again", "campaign", r.ID)
		}
	}
	b, err := e.marshalStored(r.ID, ss.Spec, k)
	if err != nil {
		return nil, err
	}
	if err := e.cfg.Store.SetCampaignSpec(ctx, r.ID, string(b)); err != nil {
		return nil, err
	}
	r.Spec = string(b)
	return k, nil
}

// dropClearKey removes a download key stored in clear from a finished
// campaign's row (its tokens are refused anyway: only active campaigns
// serve images), so that no copy of the database made from now on holds it.
func (e *Engine) dropClearKey(ctx context.Context, r *store.CampaignRecord) error {
	if !bytes.Contains([]byte(r.Spec), []byte(`"download_key"`)) {
		return nil
	}
	var ss storedSpec
	if err := json.Unmarshal([]byte(r.Spec), &ss); err != nil {
		return fmt.Errorf("campaign: %s: stored spec: %w", r.ID, err)
	}
	ss.DownloadKey = nil
	b, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	return e.cfg.Store.SetCampaignSpec(ctx, r.ID, string(b))
}
