package adminapi

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"time"
)

// Ownership transfer (docs/ownership-and-rotation.md).

// OwnerKey is GET /api/v1/ownership/key: the fleet's owner public key,
// what a seller extends a device's voucher to.
type OwnerKey struct {
	PublicKey string `json:"public_key"` // PEM SubjectPublicKeyInfo
}

// VoucherImport is POST /api/v1/ownership/vouchers: the device the
// voucher made this fleet's, and the ticket the seller needs to release it.
type VoucherImport struct {
	DeviceID string `json:"device_id"`
	Serial   uint64 `json:"serial"`
	Ticket   []byte `json:"ticket"` // COSE_Sign1 (base64 in JSON)
}

// ExtendRequest is POST /api/v1/devices/{id}/ownership/extend.
type ExtendRequest struct {
	// OwnerKey is the buyer fleet's owner public key, PEM.
	OwnerKey string `json:"owner_key"`
}

// ExtendResult is the voucher extended to the buyer.
type ExtendResult struct {
	DeviceID string `json:"device_id"`
	Voucher  []byte `json:"voucher"` // CBOR (base64 in JSON)
}

// ReleaseRequest is POST /api/v1/devices/{id}/ownership/release.
type ReleaseRequest struct {
	Voucher []byte `json:"voucher"` // the extended voucher (base64)
	Ticket  []byte `json:"ticket"`  // the buyer's ticket (base64)
	// Export asks for the device's data in the answer, for the buyer.
	Export bool `json:"export,omitempty"`
}

// ReleaseResult is a release: the transfer message was published to the
// device; it is revoked here when it acknowledges.
type ReleaseResult struct {
	DeviceID   string        `json:"device_id"`
	TransferID string        `json:"transfer_id"`
	Serial     uint64        `json:"serial"`
	Expires    time.Time     `json:"expires"`
	Export     *DeviceExport `json:"export,omitempty"`
}

// DeviceExport is a released device's data for its new owner: its record
// with its certificates, and the audit entries about it.
type DeviceExport struct {
	Device DeviceDetail `json:"device"`
	Audit  []AuditEntry `json:"audit"`
}

// OwnerKey returns the fleet's owner public key.
func (c *Client) OwnerKey(ctx context.Context) (*OwnerKey, error) {
	var out OwnerKey
	return &out, c.get(ctx, "/api/v1/ownership/key", nil, &out)
}

// ImportVoucher imports a device's voucher (it must end at this fleet's
// owner key) and returns the fleet's ticket for the device.
func (c *Client) ImportVoucher(ctx context.Context, voucher []byte) (*VoucherImport, error) {
	b, err := c.Do(ctx, http.MethodPost, "/api/v1/ownership/vouchers", nil, bytes.NewReader(voucher), "application/cbor")
	if err != nil {
		return nil, err
	}
	var r VoucherImport
	return &r, decode(b, &r)
}

// ExtendVoucher extends a device's voucher to the buyer's owner key (PEM).
func (c *Client) ExtendVoucher(ctx context.Context, deviceID, ownerKeyPEM string) (*ExtendResult, error) {
	var out ExtendResult
	return &out, c.postJSON(ctx, "/api/v1/devices/"+url.PathEscape(deviceID)+"/ownership/extend", ExtendRequest{OwnerKey: ownerKeyPEM}, &out)
}

// ReleaseDevice releases a device to the owner its extended voucher names.
func (c *Client) ReleaseDevice(ctx context.Context, deviceID string, req ReleaseRequest) (*ReleaseResult, error) {
	var out ReleaseResult
	return &out, c.postJSON(ctx, "/api/v1/devices/"+url.PathEscape(deviceID)+"/ownership/release", req, &out)
}

// CA rotation (docs/ownership-and-rotation.md, section 8).

// RotateRequest is POST /api/v1/ca/rotate.
type RotateRequest struct {
	// Emergency untrusts the current CA at the switch: its certificates
	// are revoked and devices re-enroll by attestation alone.
	Emergency bool `json:"emergency,omitempty"`
	// Rate is how many devices a minute are told to re-enroll (the
	// server's default when 0).
	Rate int `json:"rate,omitempty"`
}

// Rotation is GET /api/v1/ca/rotation and the answer of a rotate: where
// the fleet CA's latest rotation stands.
type Rotation struct {
	Generation int    `json:"generation"` // 0: never rotated
	State      string `json:"state"`      // staged, active, retired ("" never rotated)
	Emergency  bool   `json:"emergency"`
	Rate       int    `json:"rate"`
	Active     int    `json:"active"`   // active devices
	Pending    int    `json:"pending"`  // of them, still holding a certificate of the old CA
	Notified   int    `json:"notified"` // devices told their new anchor by the answering node in this rotation
	// Certificate is the new CA's certificate (PEM): the --ca of clients
	// once the nodes switched.
	Certificate string `json:"certificate,omitempty"`
}

// RotateCA stages a rotation of the fleet CA; the nodes switch to the new
// CA when they (re)start.
func (c *Client) RotateCA(ctx context.Context, req RotateRequest) (*Rotation, error) {
	var out Rotation
	return &out, c.postJSON(ctx, "/api/v1/ca/rotate", req, &out)
}

// Rotation reports the fleet CA's rotation.
func (c *Client) Rotation(ctx context.Context) (*Rotation, error) {
	var out Rotation
	return &out, c.get(ctx, "/api/v1/ca/rotation", nil, &out)
}

// RetiringKey is a release key being rotated out, as GET
// /api/v1/release-keys/retiring answers: "retiring" (still trusted for
// releases) while an active device's last attestation does not report
// its fuse revoked, "retired" (its releases refused) once none does.
type RetiringKey struct {
	Key     string   `json:"key"`  // its PEM file on the server
	Fuse    int      `json:"fuse"` // its index in the devices' provisioned key set
	State   string   `json:"state"`
	Active  int      `json:"active_devices"`
	Holders []string `json:"holders"` // active devices still holding it
}

// RetiringKeys returns the retiring release keys and who holds them.
func (c *Client) RetiringKeys(ctx context.Context) ([]RetiringKey, error) {
	var out []RetiringKey
	return out, c.get(ctx, "/api/v1/release-keys/retiring", nil, &out)
}
