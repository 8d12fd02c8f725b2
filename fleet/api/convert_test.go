package api

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"rampart/adminapi"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/fleet/trust"
)

var timeType = reflect.TypeFor[time.Time]()

// fill sets every exported field reachable from v to a value that is not
// zero: a slice or map gets one element, a pointer a filled value.
func fill(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)))
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case v.Kind() == reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case v.Kind() == reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case v.Kind() == reflect.String:
		v.SetString("x")
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.CanInt():
		v.SetInt(7)
	case v.CanUint():
		v.SetUint(7)
	case v.CanFloat():
		v.SetFloat(0.5)
	}
}

// zeroFields lists the exported fields reachable from v that are zero.
func zeroFields(v reflect.Value, path string) []string {
	switch {
	case v.Type() == timeType:
		if v.Interface().(time.Time).IsZero() {
			return []string{path}
		}
	case v.Kind() == reflect.Struct:
		var out []string
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				out = append(out, zeroFields(v.Field(i), path+"."+f.Name)...)
			}
		}
		return out
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return []string{path}
		}
		return zeroFields(v.Elem(), path)
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return []string{path}
		}
		return zeroFields(v.Index(0), path+"[0]")
	case v.Kind() == reflect.Map:
		if v.Len() == 0 {
			return []string{path}
		}
	case v.IsZero():
		return []string{path}
	}
	return nil
}

func filled[T any]() T {
	var v T
	fill(reflect.ValueOf(&v).Elem())
	return v
}

// TestConversionsCarryEveryField: from a store row or engine value with
// every field set, each conversion sets every field of the adminapi type,
// so a field added on either side and not converted fails here.
func TestConversionsCarryEveryField(t *testing.T) {
	d, c, r, e, p := filled[store.Device](), filled[store.Certificate](), filled[store.Release](), filled[store.AuditEntry](), filled[store.Point]()
	imp, sum, spec := filled[trust.ImportResult](), filled[campaign.Summary](), filled[adminapi.CampaignSpec]()
	for name, out := range map[string]any{
		"deviceOut":       deviceOut(&d),
		"certificatesOut": certificatesOut([]*store.Certificate{&c}),
		"releaseOut":      releaseOut(&r),
		"auditOut":        auditOut([]*store.AuditEntry{&e}),
		"pointsOut":       pointsOut([]store.Point{p}),
		"importOut":       importOut(&imp),
		"summaryOut":      summaryOut(&sum),
		"specIn":          specIn(spec),
		"transition":      adminapi.TransitionResult{Device: deviceOut(&d), RevokedCertificates: []string{"a"}, Disconnected: true},
	} {
		if z := zeroFields(reflect.ValueOf(out), name); len(z) > 0 {
			t.Errorf("%s leaves %v unset", name, z)
		}
	}
	if back := specOut(specIn(spec)); !reflect.DeepEqual(back, spec) {
		t.Errorf("specOut(specIn(spec)) = %+v, want %+v", back, spec)
	}
}

// TestEnumerationsAgree: the values the API names are those the store and
// the campaign engine use.
func TestEnumerationsAgree(t *testing.T) {
	for _, st := range adminapi.DeviceStates {
		if !store.State(st).Valid() {
			t.Errorf("device state %q is not the store's", st)
		}
	}
	for _, st := range []store.State{store.Registered, store.Active, store.Suspended, store.Decommissioned} {
		if !slices.Contains(adminapi.DeviceStates, adminapi.DeviceState(st)) {
			t.Errorf("store state %q is not in adminapi.DeviceStates", st)
		}
	}
	var statuses []adminapi.UpdateStatus
	for _, st := range campaign.Statuses {
		statuses = append(statuses, adminapi.UpdateStatus(st))
	}
	if !slices.Equal(statuses, adminapi.UpdateStatuses) {
		t.Errorf("update statuses: engine %v, API %v", statuses, adminapi.UpdateStatuses)
	}
	var states []adminapi.CampaignState
	for _, st := range []campaign.State{campaign.Running, campaign.Awaiting, campaign.Paused, campaign.Stopped, campaign.Completed} {
		states = append(states, adminapi.CampaignState(st))
	}
	if !slices.Equal(states, adminapi.CampaignStates) {
		t.Errorf("campaign states: engine %v, API %v", states, adminapi.CampaignStates)
	}
	var actions []adminapi.CampaignAction
	for _, a := range []campaign.Action{campaign.Pause, campaign.Resume, campaign.Cancel, campaign.Approve} {
		actions = append(actions, adminapi.CampaignAction(a))
	}
	if !slices.Equal(actions, adminapi.CampaignActions) {
		t.Errorf("campaign actions: engine %v, API %v", actions, adminapi.CampaignActions)
	}
	a, _ := newTestAPI(t)
	for _, act := range adminapi.DeviceActions {
		if !slices.Contains(a.Routes(), "POST /api/v1/devices/{id}/"+string(act)) {
			t.Errorf("device action %q has no route", act)
		}
	}
}
