package api

import (
	"net/http"

	"rampart/adminapi"
	"rampart/fleet/trust"
)

// retiringKeys answers each retiring release key's state: retiring while
// an active device's last attestation does not report it revoked (those
// devices listed), retired once none does
// (docs/ownership-and-rotation.md, section 9).
func (a *API) retiringKeys(w http.ResponseWriter, r *http.Request) {
	st, err := trust.RetiringStatus(r.Context(), a.d.Store, a.d.RetiringReleaseKeys)
	if err != nil {
		a.storeErr(w, err)
		return
	}
	out := []adminapi.RetiringKey{}
	for _, s := range st {
		k := adminapi.RetiringKey{Key: s.Name, Fuse: s.Fuse, State: "retiring", Active: s.Active, Holders: s.Holders}
		if s.Retired() {
			k.State = "retired"
		}
		out = append(out, k)
	}
	writeJSON(w, 200, out)
}
