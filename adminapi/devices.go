package adminapi

import "time"

// DeviceState is a device's fleet lifecycle state (docs/fleet-admin-api.md,
// Lifecycle).
type DeviceState string

// Lifecycle states. A device is registered when its endorsement is
// imported, active once enrolled, suspended by an operator (with a reason),
// and decommissioned until it is re-provisioned.
const (
	Registered     DeviceState = "registered"
	Active         DeviceState = "active"
	Suspended      DeviceState = "suspended"
	Decommissioned DeviceState = "decommissioned"
)

// DeviceStates lists every lifecycle state.
var DeviceStates = []DeviceState{Registered, Active, Suspended, Decommissioned}

// Device is one endorsed device: GET /api/v1/devices lists them.
type Device struct {
	ID               string `json:"id"`
	InstanceID       []byte `json:"instance_id"` // PSA instance ID (base64 in JSON)
	ImplementationID []byte `json:"implementation_id,omitempty"`
	// PublicKey is the attestation public key, PEM.
	PublicKey    string      `json:"public_key"`
	State        DeviceState `json:"state"`
	Reason       string      `json:"reason,omitempty"` // why it was last suspended, decommissioned ...
	Comment      string      `json:"comment,omitempty"`
	Manufacturer string      `json:"manufacturer,omitempty"`
	Created      time.Time   `json:"created"`
	Updated      time.Time   `json:"updated"`
	Enrolled     time.Time   `json:"enrolled,omitzero"`
	LastAttested time.Time   `json:"last_attested,omitzero"`
}

// Certificate is a device certificate the fleet CA issued.
type Certificate struct {
	Serial    string    `json:"serial"` // lower-case hex
	DeviceID  string    `json:"device_id"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Revoked   time.Time `json:"revoked,omitzero"`
	DER       []byte    `json:"der"`
}

// DeviceDetail is GET /api/v1/devices/{id}: a device with its certificates.
type DeviceDetail struct {
	Device
	Certificates []Certificate `json:"certificates"`
}

// DeviceAction is a lifecycle call: POST /api/v1/devices/{id}/{action}.
type DeviceAction string

// Lifecycle calls: suspend needs a reason and an operator, resume an
// operator, decommission and reprovision an admin.
const (
	DeviceSuspend      DeviceAction = "suspend"
	DeviceResume       DeviceAction = "resume"
	DeviceDecommission DeviceAction = "decommission"
	DeviceReprovision  DeviceAction = "reprovision"
)

// DeviceActions lists every lifecycle call.
var DeviceActions = []DeviceAction{DeviceSuspend, DeviceResume, DeviceDecommission, DeviceReprovision}

// TransitionRequest is the body of a lifecycle call on a device or a
// campaign; the reason is kept in the audit log (and, for a device, in its
// record). It may be empty except to suspend a device.
type TransitionRequest struct {
	Reason string `json:"reason"`
}

// TransitionResult is the reply to a device's lifecycle call: the device as
// it is now, the serials of the certificates the call revoked and whether
// its MQTT connection was dropped.
type TransitionResult struct {
	Device
	RevokedCertificates []string `json:"revoked_certificates,omitempty"`
	Disconnected        bool     `json:"disconnected"`
}

// Endorsement is one row of GET /api/v1/endorsements.
type Endorsement struct {
	DeviceID         string `json:"device_id"`
	InstanceID       string `json:"instance_id"` // hex
	ImplementationID string `json:"implementation_id,omitempty"`
	Manufacturer     string `json:"manufacturer"`
	PublicKey        string `json:"public_key"` // PEM
	Comment          string `json:"comment,omitempty"`
}

// ImportResult is the reply to POST /api/v1/endorsements: the manufacturer
// whose key verified the list, the devices added and updated (null when
// none), and the endorsements refused.
type ImportResult struct {
	Manufacturer string   `json:"manufacturer"`
	Added        []string `json:"added"`
	Updated      []string `json:"updated"`
	// Refused lists endorsements not recorded because they would change
	// the key or manufacturer of a device in service (each is audited).
	Refused []RefusedEndorsement `json:"refused,omitempty"`
}

// RefusedEndorsement is one endorsement an import did not record, and why.
type RefusedEndorsement struct {
	DeviceID string `json:"device_id"`
	Reason   string `json:"reason"`
}
