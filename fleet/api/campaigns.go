package api

import (
	"errors"
	"net/http"

	"rampart/adminapi"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

// campaigns answers 503 when the server runs no campaign engine.
func (a *API) campaigns(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.d.Campaigns == nil {
			writeErr(w, http.StatusServiceUnavailable, "campaigns: this server runs no campaign engine")
			return
		}
		h(w, r)
	}
}

func (a *API) campaignErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, campaign.ErrState):
		writeErr(w, http.StatusConflict, "%v", err)
	case errors.Is(err, campaign.ErrNoImage), errors.Is(err, campaign.ErrNoTarget):
		writeErr(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict):
		a.storeErr(w, err)
	default:
		a.fail(w, http.StatusBadRequest, err)
	}
}

func (a *API) listCampaigns(w http.ResponseWriter, r *http.Request) {
	list, err := a.d.Campaigns.List(r.Context())
	if err != nil {
		a.storeErr(w, err)
		return
	}
	writeJSON(w, 200, summariesOut(list))
}

func (a *API) createCampaign(w http.ResponseWriter, r *http.Request) {
	var sp adminapi.CampaignSpec
	if !readJSON(w, r, 4<<20, false, &sp) {
		return
	}
	s, err := a.d.Campaigns.Create(r.Context(), specIn(sp), actor(r))
	if err != nil {
		a.campaignErr(w, err)
		return
	}
	writeJSON(w, 201, summaryOut(s))
}

func (a *API) getCampaign(w http.ResponseWriter, r *http.Request) {
	s, err := a.d.Campaigns.Status(r.PathValue("id"), r.URL.Query().Get("devices") == "true")
	if err != nil {
		a.campaignErr(w, err)
		return
	}
	writeJSON(w, 200, summaryOut(s))
}

func (a *API) controlCampaign(w http.ResponseWriter, r *http.Request) {
	act := campaign.Action(r.PathValue("action"))
	switch act {
	case campaign.Pause, campaign.Resume, campaign.Cancel, campaign.Approve:
	default:
		writeErr(w, http.StatusNotFound, "action %q: want pause, resume, cancel or approve", act)
		return
	}
	var req adminapi.TransitionRequest
	if !readJSON(w, r, maxJSONBody, true, &req) {
		return
	}
	s, err := a.d.Campaigns.Control(r.Context(), r.PathValue("id"), act, actor(r), req.Reason)
	if err != nil {
		a.campaignErr(w, err)
		return
	}
	writeJSON(w, 200, summaryOut(s))
}
