package api

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"

	"rampart/adminapi"
	"rampart/attest"
	"rampart/fleet/store"
	"rampart/fleet/transfer"
	"rampart/ownership"
)

// ownershipRoutes registers the ownership transfer calls
// (docs/ownership-and-rotation.md): reading the owner key is a viewer's,
// everything that moves a device an admin's.
func (a *API) ownershipRoutes() {
	a.route("GET /api/v1/ownership/key", Viewer, a.withTransfer(a.ownerKey))
	a.route("POST /api/v1/ownership/vouchers", Admin, a.withTransfer(a.importVoucher))
	a.route("POST /api/v1/devices/{id}/ownership/extend", Admin, a.withTransfer(a.extendVoucher))
	a.route("POST /api/v1/devices/{id}/ownership/release", Admin, a.withTransfer(a.releaseDevice))
}

func (a *API) withTransfer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.d.Transfer == nil {
			writeErr(w, http.StatusServiceUnavailable, "ownership transfer is not enabled on this server")
			return
		}
		h(w, r)
	}
}

func (a *API) ownerKey(w http.ResponseWriter, _ *http.Request) {
	der, err := x509.MarshalPKIXPublicKey(a.d.Transfer.OwnerKey())
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, 200, adminapi.OwnerKey{PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
}

// transferErr answers a refusal of the ownership service.
func (a *API) transferErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, transfer.ErrRefused), errors.Is(err, ownership.ErrFormat):
		writeErr(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.Is(err, transfer.ErrNotOwned):
		writeErr(w, http.StatusConflict, "%v", err)
	default:
		a.storeErr(w, err)
	}
}

func (a *API) importVoucher(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ownership.MaxVoucherSize))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body: %v", err)
		return
	}
	imp, err := a.d.Transfer.Import(r.Context(), data, actor(r))
	if err != nil {
		a.transferErr(w, err)
		return
	}
	writeJSON(w, 200, adminapi.VoucherImport{DeviceID: imp.DeviceID, Serial: imp.Serial, Ticket: imp.Ticket})
}

func (a *API) extendVoucher(w http.ResponseWriter, r *http.Request) {
	var req adminapi.ExtendRequest
	if !readJSON(w, r, maxJSONBody, false, &req) {
		return
	}
	buyer, err := attest.ParsePublicKeyPEM([]byte(req.OwnerKey))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "owner_key: %v", err)
		return
	}
	id := r.PathValue("id")
	v, err := a.d.Transfer.Extend(r.Context(), id, buyer, actor(r))
	if err != nil {
		a.transferErr(w, err)
		return
	}
	writeJSON(w, 200, adminapi.ExtendResult{DeviceID: id, Voucher: v})
}

func (a *API) releaseDevice(w http.ResponseWriter, r *http.Request) {
	var req adminapi.ReleaseRequest
	if !readJSON(w, r, maxJSONBody, false, &req) {
		return
	}
	id := r.PathValue("id")
	var export *adminapi.DeviceExport
	if req.Export {
		// Read before the release: the device's record as this fleet
		// held it.
		var err error
		if export, err = a.exportDevice(r, id); err != nil {
			a.storeErr(w, err)
			return
		}
	}
	rel, err := a.d.Transfer.Release(r.Context(), id, req.Voucher, req.Ticket, actor(r))
	if err != nil {
		a.transferErr(w, err)
		return
	}
	writeJSON(w, 200, adminapi.ReleaseResult{DeviceID: id, TransferID: rel.TransferID, Serial: rel.Serial, Expires: rel.Expires, Export: export})
}

// exportDevice is a device's data for its new owner.
func (a *API) exportDevice(r *http.Request, id string) (*adminapi.DeviceExport, error) {
	d, err := a.d.Store.Device(r.Context(), id)
	if err != nil {
		return nil, err
	}
	certs, err := a.d.Store.Certificates(r.Context(), id)
	if err != nil {
		return nil, err
	}
	list, err := a.d.Store.AuditLog(r.Context(), store.AuditFilter{Subject: id, Limit: 10000})
	if err != nil {
		return nil, err
	}
	return &adminapi.DeviceExport{Device: adminapi.DeviceDetail{Device: deviceOut(d), Certificates: certificatesOut(certs)}, Audit: auditOut(list)}, nil
}
