package adminapi

import "time"

// CampaignState is a campaign's state.
type CampaignState string

// Campaign states.
const (
	CampaignRunning   CampaignState = "running"
	CampaignAwaiting  CampaignState = "awaiting-approval" // the current phase waits for an operator's approve
	CampaignPaused    CampaignState = "paused"            // by an operator or by the failure threshold
	CampaignCancelled CampaignState = "cancelled"
	CampaignCompleted CampaignState = "completed"
)

// CampaignStates lists every campaign state.
var CampaignStates = []CampaignState{CampaignRunning, CampaignAwaiting, CampaignPaused, CampaignCancelled, CampaignCompleted}

// UpdateStatus is a device's progress in a campaign.
type UpdateStatus string

// Update statuses, in the order a successful update passes through them;
// verified, failed, reverted and cancelled are final.
const (
	Queued      UpdateStatus = "queued"
	Notified    UpdateStatus = "notified"
	Downloading UpdateStatus = "downloading"
	Downloaded  UpdateStatus = "downloaded"
	Installing  UpdateStatus = "installing"
	Rebooted    UpdateStatus = "rebooted"
	Verified    UpdateStatus = "verified"
	Failed      UpdateStatus = "failed"
	Reverted    UpdateStatus = "reverted"
	Cancelled   UpdateStatus = "cancelled"
)

// UpdateStatuses lists every update status in order.
var UpdateStatuses = []UpdateStatus{Queued, Notified, Downloading, Downloaded, Installing, Rebooted, Verified, Failed, Reverted, Cancelled}

// CampaignAction is an operator's command: POST /api/v1/campaigns/{id}/{action}
// with a TransitionRequest.
type CampaignAction string

// Operator commands.
const (
	CampaignPause   CampaignAction = "pause"   // notify no new device
	CampaignResume  CampaignAction = "resume"  // go on; the failures so far are acknowledged
	CampaignCancel  CampaignAction = "cancel"  // drop queued devices, withdraw unstarted jobs
	CampaignApprove CampaignAction = "approve" // start the phase the campaign waits for
)

// CampaignActions lists every operator command.
var CampaignActions = []CampaignAction{CampaignPause, CampaignResume, CampaignCancel, CampaignApprove}

// CampaignSpec is what an operator asks for: the body of POST
// /api/v1/campaigns (docs/campaigns.md). Zero fields take the server's
// defaults, which the summary's spec shows.
type CampaignSpec struct {
	// ID names the campaign; devices see it as the job ID.
	ID string `json:"id"`
	// Release is the hex measurement of an uploaded release.
	Release string          `json:"release"`
	Filter  CampaignFilter  `json:"filter"`
	Phases  []CampaignPhase `json:"phases"`
	// MaxConcurrent bounds the devices notified and not yet done.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// WatchWindow is how long a notified device has to be verified.
	WatchWindow Duration `json:"watch_window,omitzero"`
	// MaxRenewals is how many re-enrollments within the watch window mark
	// a reboot loop.
	MaxRenewals int             `json:"max_renewals,omitempty"`
	Window      *CampaignWindow `json:"window,omitempty"`
}

// CampaignFilter selects target devices; empty fields match every device
// (the server's default states: active only).
type CampaignFilter struct {
	States       []DeviceState `json:"states,omitempty"`
	Manufacturer string        `json:"manufacturer,omitempty"`
	// Versions are firmware versions as last reported by the device.
	Versions []string `json:"versions,omitempty"`
	Devices  []string `json:"devices,omitempty"`
	IDPrefix string   `json:"id_prefix,omitempty"`
}

// CampaignPhase is one step of a rollout: a cumulative share of the targets
// (Percent) or a named group (Devices), with its thresholds (shares in
// (0, 1]) and whether an operator must approve it first.
type CampaignPhase struct {
	Name             string   `json:"name,omitempty"`
	Percent          float64  `json:"percent,omitempty"`
	Devices          []string `json:"devices,omitempty"`
	SuccessThreshold float64  `json:"success_threshold,omitempty"`
	FailureThreshold float64  `json:"failure_threshold,omitempty"`
	Approve          bool     `json:"approve,omitempty"`
}

// CampaignWindow is a daily maintenance window in UTC ("HH:MM"); Start
// after End spans midnight.
type CampaignWindow struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// CampaignSummary is a campaign's progress: the reply of every campaign
// route. The list omits Spec; Devices is filled only on request.
type CampaignSummary struct {
	ID        string        `json:"id"`
	State     CampaignState `json:"state"`
	Reason    string        `json:"reason,omitempty"`
	Phase     int           `json:"phase"` // index into Phases
	PhaseName string        `json:"phase_name"`
	Release   string        `json:"release"` // hex measurement
	Version   string        `json:"version"`
	Image     string        `json:"image_sha256"`
	Total     int           `json:"total"`
	// Counts is the number of devices in each status present.
	Counts  map[UpdateStatus]int `json:"counts"`
	Phases  []PhaseSummary       `json:"phases"`
	Created time.Time            `json:"created"`
	Updated time.Time            `json:"updated"`
	Devices []DeviceProgress     `json:"devices,omitempty"`
	Spec    *CampaignSpec        `json:"spec,omitempty"`
	// AcknowledgedFailures are the failures an operator's resume accepted.
	AcknowledgedFailures int `json:"acknowledged_failures,omitempty"`
}

// PhaseSummary is the progress of one phase.
type PhaseSummary struct {
	Name     string `json:"name"`
	Devices  int    `json:"devices"`
	Verified int    `json:"verified"`
	Failed   int    `json:"failed"` // failed or reverted
	InFlight int    `json:"in_flight"`
}

// DeviceProgress is one device's progress in a campaign.
type DeviceProgress struct {
	ID       string       `json:"id"`
	Phase    int          `json:"phase"`
	Status   UpdateStatus `json:"status"`
	Reason   string       `json:"reason,omitempty"`
	Notified time.Time    `json:"notified,omitzero"`
}
