package api

import (
	"context"
	"errors"
	"net/http"

	"rampart/adminapi"
)

// CARotator is the server's side of a CA rotation (fleet.Server).
type CARotator interface {
	RotateCA(ctx context.Context, emergency bool, rate int, actor string) (*adminapi.Rotation, error)
	RotationStatus(ctx context.Context) (*adminapi.Rotation, error)
}

// ErrRotationBusy: a rotation is under way (409).
var ErrRotationBusy = errors.New("api: a CA rotation is under way")

func (a *API) caRoutes() {
	a.route("POST /api/v1/ca/rotate", Admin, a.rotateCA)
	a.route("GET /api/v1/ca/rotation", Viewer, a.caRotation)
}

func (a *API) rotateCA(w http.ResponseWriter, r *http.Request) {
	if a.d.CA == nil {
		writeErr(w, http.StatusServiceUnavailable, "CA rotation is not available on this server")
		return
	}
	var req adminapi.RotateRequest
	if !readJSON(w, r, maxJSONBody, true, &req) {
		return
	}
	if req.Rate < 0 || req.Rate > 1_000_000 {
		writeErr(w, http.StatusBadRequest, "rate: %d devices a minute is outside 0..1000000", req.Rate)
		return
	}
	out, err := a.d.CA.RotateCA(r.Context(), req.Emergency, req.Rate, actor(r))
	if errors.Is(err, ErrRotationBusy) {
		writeErr(w, http.StatusConflict, "%v", err)
		return
	}
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, 200, out)
}

func (a *API) caRotation(w http.ResponseWriter, r *http.Request) {
	if a.d.CA == nil {
		writeErr(w, http.StatusServiceUnavailable, "CA rotation is not available on this server")
		return
	}
	out, err := a.d.CA.RotationStatus(r.Context())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, 200, out)
}
