package campaign_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"rampart/fleet/campaign"
	"rampart/fleet/store"
)

var specSeeds = []string{
	`{"id":"spring-2","release":"` + zeros64 + `","phases":[{"percent":1},{"percent":10},{"percent":50},{"percent":100,"approve":true}],"max_concurrent":200,"watch_window":"15m","window":{"start":"22:00","end":"04:00"}}`,
	`{"id":"lab","release":"` + zeros64 + `","phases":[{"name":"canary","devices":["a","b"]},{"name":"rest","devices":["c"]}],"filter":{"states":["active"],"versions":["1.0.0"]}}`,
	`{"id":"x","release":"00","watch_window":90}`,
}

const zeros64 = "0000000000000000000000000000000000000000000000000000000000000000"

// FuzzSpec: any JSON either fails to decode or validate, or round-trips.
func FuzzSpec(f *testing.F) {
	for _, s := range specSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var sp campaign.Spec
		if json.Unmarshal(b, &sp) != nil {
			return
		}
		sp.Defaults()
		if sp.Validate() != nil {
			return
		}
		out, err := json.Marshal(sp)
		if err != nil {
			t.Fatal(err)
		}
		var back campaign.Spec
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sp, back) {
			t.Fatalf("round trip:\n%+v\n%+v", sp, back)
		}
	})
}

// TestSpecValidation: the seeds are valid; every prefix of a valid spec is
// refused by the decoder or the validator; hostile values are refused.
func TestSpecValidation(t *testing.T) {
	for _, s := range specSeeds[:2] {
		var sp campaign.Spec
		if err := json.Unmarshal([]byte(s), &sp); err != nil {
			t.Fatal(err)
		}
		sp.Defaults()
		if err := sp.Validate(); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		for i := 0; i < len(s); i++ {
			var p campaign.Spec
			if json.Unmarshal([]byte(s[:i]), &p) == nil {
				t.Fatalf("prefix %q decoded", s[:i])
			}
		}
	}
	for _, bad := range []string{
		`{"id":"a b","release":"` + zeros64 + `"}`,
		`{"id":"a","release":"xyz"}`,
		`{"id":"a","release":"` + zeros64 + `","phases":[{"percent":50},{"percent":10}]}`,
		`{"id":"a","release":"` + zeros64 + `","phases":[{"percent":50}]}`,
		`{"id":"a","release":"` + zeros64 + `","phases":[{"percent":100,"failure_threshold":2}]}`,
		`{"id":"a","release":"` + zeros64 + `","phases":[{"percent":10},{"name":"g","devices":["x"]}]}`,
		`{"id":"a","release":"` + zeros64 + `","window":{"start":"25:00","end":"01:00"}}`,
		`{"id":"a","release":"` + zeros64 + `","filter":{"states":["gone"]}}`,
		`{"id":"a","release":"` + zeros64 + `","max_concurrent":-1}`,
	} {
		var sp campaign.Spec
		if json.Unmarshal([]byte(bad), &sp) != nil {
			continue
		}
		sp.Defaults()
		if sp.Validate() == nil {
			t.Fatalf("accepted %s", bad)
		}
	}
}

// FuzzReport: no outcome or progress report, however malformed, makes a device
// verified (the reports here carry no valid token) or panics the engine.
func FuzzReport(f *testing.F) {
	f.Add([]byte(`{"job":"c","ok":true,"version":"2.0.0","token":"0oRDoQEmoFkBCqk="}`))
	f.Add([]byte(`{"job":"c","ok":false,"version":"1.0.0","error":"agent: self-test of 2.0.0 failed, reverted: x"}`))
	f.Add([]byte(`{"job":"c","ok":true}`))
	f.Add([]byte(`{"job":"c","ok":true,"result":"ok","version":"2.0.0","token":"0oRDoQEmoFkBCqk="}`))
	f.Add([]byte(`{"job":"c","ok":false,"result":"reverted","version":"1.0.0","error":"x"}`))
	f.Add([]byte(`{"job":"c","ok":true,"result":"reverted"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"job":"c","progress":"rebooted","version":"2.0.0"}`))
	f.Add([]byte(`{"job":"c","progress":"installing"}`))
	f.Add([]byte(`{"job":"c","progress":"verified","ok":true,"token":"0oRDoQEmoFkBCqk="}`))
	b := newBench(f, 1)
	e := b.engine(f)
	ctx := context.Background()
	if _, err := e.Create(ctx, campaign.Spec{ID: "c", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}}}, "fuzz"); err != nil {
		f.Fatal(err)
	}
	e.Step(ctx)
	f.Fuzz(func(t *testing.T, p []byte) {
		e.Report(ctx, "dev-000", p)
		s, err := e.Status("c", false)
		if err != nil {
			t.Fatal(err)
		}
		if s.Counts[campaign.Verified] != 0 {
			t.Fatalf("report %q verified a device without a valid attestation", p)
		}
	})
}
