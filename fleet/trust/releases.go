package trust

import (
	"context"
	"errors"
	"fmt"

	"rampart/deviceproto"
	"rampart/fleet/store"
	"rampart/image"
)

// RegisterRelease verifies a signed MCUboot image with the trusted release
// keys and registers its measurement, the software component the bootloader
// will report for it (image.Measurement): the image hash (measurement-value),
// the KEYHASH of the key that verified it (signer-id), the version, the
// BOOT_RECORD sw_type and the hash's name. Audited by actor.
func RegisterRelease(ctx context.Context, db *store.DB, img []byte, keys []any, comment, actor string) (*store.Release, error) {
	r, err := verifyRelease(img, keys, comment)
	if err != nil {
		db.Audit(ctx, &store.AuditEntry{Actor: actor, Action: "releases.register", Decision: store.Deny, Reason: err.Error()})
		return nil, err
	}
	c := &r.Component
	audit := &store.AuditEntry{Actor: actor, Action: "releases.register", Subject: fmt.Sprintf("%x", c.MeasurementValue), Decision: store.Allow,
		Reason: fmt.Sprintf("%s %s signed by %x", c.MeasurementType, c.Version, c.SignerID)}
	if err := db.PutRelease(ctx, r, audit); err != nil {
		return nil, err
	}
	return r, nil
}

func verifyRelease(data []byte, keys []any, comment string) (*store.Release, error) {
	if len(data) > deviceproto.MaxImageSize { // what no device would download
		return nil, fmt.Errorf("trust: release: %d bytes exceeds %d", len(data), deviceproto.MaxImageSize)
	}
	if len(keys) == 0 {
		return nil, errors.New("trust: release: no release signing keys configured")
	}
	img, v, err := image.Verify(data, keys...)
	if err != nil {
		return nil, fmt.Errorf("trust: release: %w", err)
	}
	if !v.Signed || v.KeyIndex < 0 {
		return nil, errors.New("trust: release: image is not signed by a trusted release key")
	}
	signer, err := image.KeyHash(keys[v.KeyIndex], v.Hash)
	if err != nil {
		return nil, fmt.Errorf("trust: release: signer id: %w", err)
	}
	m, err := img.Measurement(v.Hash, v.Digest, signer)
	if err != nil {
		return nil, fmt.Errorf("trust: release: boot record: %w", err)
	}
	return &store.Release{Component: m, Size: int64(img.Size()), Comment: comment}, nil
}
