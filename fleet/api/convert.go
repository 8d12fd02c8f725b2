package api

import (
	"rampart/adminapi"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/trust"
)

// The admin API answers with adminapi's types, never with the store's rows
// or the campaign engine's values: these functions are the boundary, so a
// change of the schema or of the engine changes the API only when one of
// them is changed too (testdata/wire.golden shows it).

func deviceOut(d *store.Device) adminapi.Device {
	return adminapi.Device{ID: d.ID, InstanceID: d.InstanceID, ImplementationID: d.ImplementationID, PublicKey: d.PublicKeyPEM,
		State: adminapi.DeviceState(d.State), Reason: d.Reason, Comment: d.Comment, Manufacturer: d.Manufacturer,
		Created: d.Created, Updated: d.Updated, Enrolled: d.Enrolled, LastAttested: d.LastAttested}
}

func devicesOut(list []*store.Device) []adminapi.Device {
	out := make([]adminapi.Device, 0, len(list))
	for _, d := range list {
		out = append(out, deviceOut(d))
	}
	return out
}

func certificatesOut(list []*store.Certificate) []adminapi.Certificate {
	out := make([]adminapi.Certificate, 0, len(list))
	for _, c := range list {
		out = append(out, adminapi.Certificate{Serial: c.Serial, DeviceID: c.DeviceID, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Revoked: c.Revoked, DER: c.DER})
	}
	return out
}

func releaseOut(r *store.Release) adminapi.Release {
	c := &r.Component
	return adminapi.Release{Digest: c.MeasurementValue, SwType: c.MeasurementType, Version: c.Version, SignerID: c.SignerID, HashAlg: c.MeasurementDescription, Size: r.Size, Created: r.Created, Comment: r.Comment}
}

func releasesOut(list []*store.Release) []adminapi.Release {
	out := make([]adminapi.Release, 0, len(list))
	for _, r := range list {
		out = append(out, releaseOut(r))
	}
	return out
}

func auditOut(list []*store.AuditEntry) []adminapi.AuditEntry {
	out := make([]adminapi.AuditEntry, 0, len(list))
	for _, e := range list {
		out = append(out, adminapi.AuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Decision: e.Decision, Reason: e.Reason})
	}
	return out
}

func pointsOut(list []store.Point) []adminapi.Point {
	out := make([]adminapi.Point, 0, len(list))
	for _, p := range list {
		out = append(out, adminapi.Point{DeviceID: p.DeviceID, Metric: p.Metric, Time: p.Time, Value: p.Value})
	}
	return out
}

// importOut keeps trust's nil lists nil: the reply says "added": null
// when nothing was added, as it always has.
func importOut(r *trust.ImportResult) adminapi.ImportResult {
	out := adminapi.ImportResult{Manufacturer: r.Manufacturer, Added: r.Added, Updated: r.Updated}
	for _, f := range r.Refused {
		out.Refused = append(out.Refused, adminapi.RefusedEndorsement{DeviceID: f.DeviceID, Reason: f.Reason})
	}
	return out
}

func summaryOut(s *campaign.Summary) adminapi.CampaignSummary {
	out := adminapi.CampaignSummary{ID: s.ID, State: adminapi.CampaignState(s.State), Reason: s.Reason, Phase: s.Phase, PhaseName: s.PhaseName,
		Release: s.Release, Version: s.Version, Image: s.Image, Total: s.Total,
		Created: s.Created, Updated: s.Updated, AcknowledgedFailures: s.Acked}
	if s.Counts != nil {
		out.Counts = make(map[adminapi.UpdateStatus]int, len(s.Counts))
	}
	for st, n := range s.Counts {
		out.Counts[adminapi.UpdateStatus(st)] = n
	}
	for _, p := range s.Phases {
		out.Phases = append(out.Phases, adminapi.PhaseSummary{Name: p.Name, Devices: p.Devices, Verified: p.Verified, Failed: p.Failed, InFlight: p.InFlight})
	}
	for _, d := range s.Devices {
		out.Devices = append(out.Devices, adminapi.DeviceProgress{ID: d.ID, Phase: d.Phase, Status: adminapi.UpdateStatus(d.Status), Reason: d.Reason, Notified: d.Notified})
	}
	if s.Spec != nil {
		sp := specOut(*s.Spec)
		out.Spec = &sp
	}
	return out
}

func summariesOut(list []*campaign.Summary) []adminapi.CampaignSummary {
	out := make([]adminapi.CampaignSummary, 0, len(list))
	for _, s := range list {
		out = append(out, summaryOut(s))
	}
	return out
}

func specOut(sp campaign.Spec) adminapi.CampaignSpec {
	out := adminapi.CampaignSpec{ID: sp.ID, Release: sp.Release, MaxConcurrent: sp.MaxConcurrent, WatchWindow: adminapi.Duration{Duration: sp.WatchWindow.Duration}, MaxRenewals: sp.MaxRenewals,
		Filter: adminapi.CampaignFilter{Manufacturer: sp.Filter.Manufacturer, Versions: sp.Filter.Versions, Devices: sp.Filter.Devices, IDPrefix: sp.Filter.IDPrefix}}
	for _, st := range sp.Filter.States {
		out.Filter.States = append(out.Filter.States, adminapi.DeviceState(st))
	}
	for _, p := range sp.Phases {
		out.Phases = append(out.Phases, adminapi.CampaignPhase{Name: p.Name, Percent: p.Percent, Devices: p.Devices, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold, Approve: p.Approve})
	}
	if sp.Window != nil {
		out.Window = &adminapi.CampaignWindow{Start: sp.Window.Start, End: sp.Window.End}
	}
	return out
}

func specIn(sp adminapi.CampaignSpec) campaign.Spec {
	out := campaign.Spec{ID: sp.ID, Release: sp.Release, MaxConcurrent: sp.MaxConcurrent, WatchWindow: campaign.Duration{Duration: sp.WatchWindow.Duration}, MaxRenewals: sp.MaxRenewals,
		Filter: campaign.Filter{Manufacturer: sp.Filter.Manufacturer, Versions: sp.Filter.Versions, Devices: sp.Filter.Devices, IDPrefix: sp.Filter.IDPrefix}}
	for _, st := range sp.Filter.States {
		out.Filter.States = append(out.Filter.States, store.State(st))
	}
	for _, p := range sp.Phases {
		out.Phases = append(out.Phases, campaign.Phase{Name: p.Name, Percent: p.Percent, Devices: p.Devices, SuccessThreshold: p.SuccessThreshold, FailureThreshold: p.FailureThreshold, Approve: p.Approve})
	}
	if sp.Window != nil {
		out.Window = &campaign.Window{Start: sp.Window.Start, End: sp.Window.End}
	}
	return out
}

// DevicesOut, AuditOut and SummariesOut are the API's conversions, for
// the console's views: one conversion for both.
func DevicesOut(list []*store.Device) []adminapi.Device { return devicesOut(list) }

// AuditOut converts audit entries (see DevicesOut).
func AuditOut(list []*store.AuditEntry) []adminapi.AuditEntry { return auditOut(list) }

// SummariesOut converts campaign summaries (see DevicesOut).
func SummariesOut(list []*campaign.Summary) []adminapi.CampaignSummary { return summariesOut(list) }
