package api

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"rampart/adminapi"
)

// TestClientCallsEveryRoute drives the Go client against the server over
// TLS: each typed method reaches its route and decodes the reply.
func TestClientCallsEveryRoute(t *testing.T) {
	a, img, _ := wireFixture(t)
	srv := httptest.NewTLSServer(a)
	defer srv.Close()
	c := adminapi.NewClient(srv.URL, "admin", nil)
	c.HTTP = srv.Client()
	ctx := context.Background()

	devs, err := c.Devices(ctx, adminapi.Active)
	if err != nil || len(devs) != 1 || devs[0].State != adminapi.Active {
		t.Fatalf("Devices: %+v %v", devs, err)
	}
	id := devs[0].ID
	d, err := c.Device(ctx, id)
	if err != nil || d.ID != id || len(d.Certificates) != 1 || d.Certificates[0].Serial != "0a0b0c" {
		t.Fatalf("Device: %+v %v", d, err)
	}
	if _, err := c.Device(ctx, "nope"); !adminapi.IsStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "404 Not Found: store: not found") {
		t.Fatalf("Device(nope): %v", err)
	}
	tr, err := c.Transition(ctx, id, adminapi.DeviceDecommission, "end of life")
	if err != nil || tr.State != adminapi.Decommissioned || len(tr.RevokedCertificates) != 1 || !tr.Disconnected {
		t.Fatalf("Transition: %+v %v", tr, err)
	}
	if _, err := c.Transition(ctx, id, adminapi.DeviceSuspend, ""); !adminapi.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("suspend without a reason: %v", err)
	}
	if es, err := c.Endorsements(ctx); err != nil || len(es) != 2 {
		t.Fatalf("Endorsements: %+v %v", es, err)
	}
	if _, err := c.ImportEndorsements(ctx, []byte("not cose")); !adminapi.IsStatus(err, http.StatusBadRequest) {
		t.Fatalf("ImportEndorsements: %v", err)
	}
	rel, sha, err := c.UploadRelease(ctx, img, "first", false)
	if err != nil || rel.Version != "1.2.3" || rel.Comment != "first" || len(sha) != 64 {
		t.Fatalf("UploadRelease: %+v %q %v", rel, sha, err)
	}
	if rs, err := c.Releases(ctx); err != nil || len(rs) != 1 {
		t.Fatalf("Releases: %+v %v", rs, err)
	}
	all, _ := c.Devices(ctx, adminapi.Registered)
	spec := adminapi.CampaignSpec{ID: "spring", Release: hex.EncodeToString(rel.Digest), Filter: adminapi.CampaignFilter{States: []adminapi.DeviceState{adminapi.Registered}},
		Phases: []adminapi.CampaignPhase{{Name: "all", Devices: []string{all[0].ID}}}}
	s, err := c.CreateCampaign(ctx, spec)
	if err != nil || s.State != adminapi.CampaignRunning || s.Total != 1 || s.Spec == nil || s.Spec.Phases[0].SuccessThreshold != 0.9 {
		t.Fatalf("CreateCampaign: %+v %v", s, err)
	}
	if s, err = c.Campaign(ctx, "spring", true); err != nil || len(s.Devices) != 1 || s.Counts[adminapi.Queued] != 1 {
		t.Fatalf("Campaign: %+v %v", s, err)
	}
	if s, err = c.ControlCampaign(ctx, "spring", adminapi.CampaignPause, "tickets"); err != nil || s.State != adminapi.CampaignPaused {
		t.Fatalf("ControlCampaign: %+v %v", s, err)
	}
	if l, err := c.Campaigns(ctx); err != nil || len(l) != 1 || l[0].Spec != nil {
		t.Fatalf("Campaigns: %+v %v", l, err)
	}
	au, err := c.Audit(ctx, adminapi.AuditQuery{Action: "campaign.pause", Decision: adminapi.Allow, Limit: 5})
	if err != nil || len(au) != 1 || au[0].Subject != "spring" || au[0].Reason != "tickets" {
		t.Fatalf("Audit: %+v %v", au, err)
	}
	pts, err := c.Telemetry(ctx, adminapi.TelemetryQuery{Device: "d1", From: wireClock.Add(500e6), Limit: 10})
	if err != nil || len(pts) != 1 || pts[0].Value != -3 {
		t.Fatalf("Telemetry: %+v %v", pts, err)
	}
	csv, err := c.ExportTelemetry(ctx, adminapi.TelemetryQuery{Device: "d1"}, adminapi.FormatCSV)
	if err != nil || !strings.HasPrefix(string(csv), "device_id,metric,time,value\nd1,temperature,") {
		t.Fatalf("ExportTelemetry: %q %v", csv, err)
	}
	viewer := adminapi.NewClient(srv.URL, "view", nil)
	viewer.HTTP = srv.Client()
	if _, err := viewer.Transition(ctx, id, adminapi.DeviceReprovision, ""); !adminapi.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("viewer reprovision: %v", err)
	}
}
