package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"rampart/adminapi"
	"rampart/fleet/api"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// deviceRow is a device of the list: the API's device with what the
// console knows besides (connected now, last reported firmware).
type deviceRow struct {
	adminapi.Device
	Online   bool   `json:"online"`
	Firmware string `json:"firmware,omitempty"`
}

type devicesReply struct {
	Devices []deviceRow `json:"devices"`
	Total   int         `json:"total"`
	Next    string      `json:"next,omitempty"` // After of the next page
}

// fwVersion renders the agent's fw_version telemetry (major*10000 +
// minor*100 + revision), the encoding the campaign filter reads.
func fwVersion(v float64) string {
	n := int(v)
	return fmt.Sprintf("%d.%d.%d", n/10000, n/100%100, n%100)
}

// devices is the paged, filtered device list. The online filter is
// applied to the page the store returns (it is the broker's, not the
// store's): a page may hold fewer rows than asked, never a wrong one.
func (c *Console) devices(w http.ResponseWriter, r *http.Request, _ *session) {
	q := r.URL.Query()
	f := store.DeviceFilter{State: store.State(q.Get("state")), Manufacturer: q.Get("manufacturer"), IDPrefix: q.Get("q"), After: q.Get("after")}
	if f.State != "" && !f.State.Valid() {
		writeErr(w, http.StatusBadRequest, "state %q: want registered, active, suspended or decommissioned", f.State)
		return
	}
	f.Limit, _ = strconv.Atoi(q.Get("limit"))
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	if s := q.Get("seen"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeErr(w, http.StatusBadRequest, "seen %q: want a duration such as 24h", s)
			return
		}
		f.SeenSince = c.d.Now().Add(-d)
	}
	online := q.Get("online")
	fw := q.Get("firmware")
	page, err := c.d.Store.DevicesPage(r.Context(), f)
	if err != nil {
		c.internal(w, err)
		return
	}
	on := c.hub.onlineSet()
	versions := c.hub.firmware(r.Context())
	out := devicesReply{Devices: []deviceRow{}, Total: page.Total}
	for _, d := range api.DevicesOut(page.Devices) {
		row := deviceRow{Device: d, Online: on[d.ID]}
		if v, ok := versions[d.ID]; ok {
			row.Firmware = fwVersion(v)
		}
		if (online == "yes" && !row.Online) || (online == "no" && row.Online) || (fw != "" && row.Firmware != fw) {
			continue
		}
		out.Devices = append(out.Devices, row)
	}
	if n := len(page.Devices); n > 0 && n == f.Limit {
		out.Next = page.Devices[n-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// deviceView is what the device page shows besides the API's device,
// certificates, audit entries and telemetry (which it reads from the API).
type deviceView struct {
	Online    bool                 `json:"online"`
	Firmware  []firmwareChange     `json:"firmware"`
	Campaigns []deviceCampaign     `json:"campaigns"`
	Attested  *adminapi.AuditEntry `json:"attested,omitempty"`
	// Attestations are the verified claims each certificate was issued
	// on, newest first (certificates of older builds have none).
	Attestations []attestation `json:"attestations"`
}

type attestation struct {
	Serial string          `json:"serial"`
	Issued time.Time       `json:"issued"`
	Claims json.RawMessage `json:"claims"`
}

type firmwareChange struct {
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
}

type deviceCampaign struct {
	ID      string                `json:"id"`
	Version string                `json:"version"`
	Status  adminapi.UpdateStatus `json:"status"`
	Reason  string                `json:"reason,omitempty"`
}

func (c *Console) device(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	if _, err := c.d.Store.Device(r.Context(), id); err != nil {
		if err == store.ErrNotFound {
			writeErr(w, http.StatusNotFound, "no device %q", id)
			return
		}
		c.internal(w, err)
		return
	}
	v := deviceView{Online: c.hub.onlineSet()[id], Firmware: []firmwareChange{}, Campaigns: []deviceCampaign{}}
	pts, err := c.d.Store.Points(r.Context(), store.PointQuery{DeviceID: id, Metric: "fw_version", Limit: 100000})
	if err != nil {
		c.internal(w, err)
		return
	}
	for _, p := range pts {
		ver := fwVersion(p.Value)
		if n := len(v.Firmware); n == 0 || v.Firmware[n-1].Version != ver {
			v.Firmware = append(v.Firmware, firmwareChange{Version: ver, Since: p.Time})
		}
	}
	certs, err := c.d.Store.Certificates(r.Context(), id)
	if err != nil {
		c.internal(w, err)
		return
	}
	claims, err := c.d.Store.CertificateClaims(r.Context(), id)
	if err != nil {
		c.internal(w, err)
		return
	}
	v.Attestations = []attestation{}
	for _, cert := range certs {
		if cl := claims[cert.Serial]; cl != "" && json.Valid([]byte(cl)) {
			v.Attestations = append(v.Attestations, attestation{Serial: cert.Serial, Issued: cert.NotBefore, Claims: json.RawMessage(cl)})
		}
	}
	for _, action := range []string{"enroll", "renew"} {
		list, err := c.d.Store.AuditLog(r.Context(), store.AuditFilter{Subject: id, Action: action, Decision: string(store.Allow), Limit: 1})
		if err != nil {
			c.internal(w, err)
			return
		}
		if len(list) == 1 && (v.Attested == nil || list[0].Time.After(v.Attested.Time)) {
			e := api.AuditOut(list)[0]
			v.Attested = &e
		}
	}
	if c.d.Campaigns != nil {
		list, err := c.d.Campaigns.List(r.Context())
		if err != nil {
			c.internal(w, err)
			return
		}
		for _, s := range list {
			cd, err := c.d.Store.CampaignDevice(r.Context(), s.ID, id)
			if err != nil {
				continue // not a target of this campaign
			}
			v.Campaigns = append(v.Campaigns, deviceCampaign{ID: s.ID, Version: s.Version, Status: adminapi.UpdateStatus(cd.Status), Reason: cd.Reason})
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// targets counts the devices a campaign filter selects now.
func (c *Console) targets(w http.ResponseWriter, r *http.Request, _ *session) {
	if c.d.Campaigns == nil {
		writeErr(w, http.StatusServiceUnavailable, "this server runs no campaign engine")
		return
	}
	q := r.URL.Query()
	f := campaign.Filter{Manufacturer: q.Get("manufacturer"), IDPrefix: q.Get("id_prefix")}
	for _, s := range splitList(q.Get("states")) {
		if !store.State(s).Valid() {
			writeErr(w, http.StatusBadRequest, "state %q: want registered, active, suspended or decommissioned", s)
			return
		}
		f.States = append(f.States, store.State(s))
	}
	f.Versions = splitList(q.Get("versions"))
	f.Devices = splitList(q.Get("devices"))
	n, err := c.d.Campaigns.CountTargets(r.Context(), f)
	if err != nil {
		c.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// releases is where each firmware version runs: devices by the version
// they last reported.
func (c *Console) releases(w http.ResponseWriter, r *http.Request, _ *session) {
	runs := map[string][]string{}
	for id, v := range c.hub.firmware(r.Context()) {
		runs[fwVersion(v)] = append(runs[fwVersion(v)], id)
	}
	type where struct {
		Count   int      `json:"count"`
		Devices []string `json:"devices"` // the first 20, by ID
	}
	out := map[string]where{}
	for ver, ids := range runs {
		slices.Sort(ids)
		out[ver] = where{Count: len(ids), Devices: ids[:min(len(ids), 20)]}
	}
	writeJSON(w, http.StatusOK, out)
}

// internal logs err and answers 500 without it, as the API does.
func (c *Console) internal(w http.ResponseWriter, err error) {
	if err == context.Canceled {
		return
	}
	c.d.Log.Error("console request failed", "err", err)
	writeErr(w, http.StatusInternalServerError, "internal error: the server logged the cause")
}
