package store

import (
	"encoding/json"
	"testing"
	"time"

	"rampart/swcomponent"
)

// TestReleaseJSON pins the admin API's JSON form of a release (the
// fields of fleet/api/openapi.json's Release): the measurement fields keep
// their column names although Release holds them as a swcomponent.Component.
func TestReleaseJSON(t *testing.T) {
	r := Release{
		Component: swcomponent.Component{MeasurementType: "SPE", MeasurementValue: []byte{1, 2}, Version: "1.2.3",
			SignerID: []byte{3}, MeasurementDescription: "SHA256"},
		Size: 10, Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	const want = `{"digest":"AQI=","sw_type":"SPE","version":"1.2.3","signer_id":"Aw==","hash_alg":"SHA256","size":10,"created":"2025-01-02T03:04:05Z"}`
	for _, v := range []any{r, &r} {
		b, err := json.Marshal(v)
		if err != nil || string(b) != want {
			t.Fatalf("%s %v\nwant %s", b, err, want)
		}
	}
	r.Comment = "c"
	b, _ := json.Marshal([]*Release{&r})
	var back []Release
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 1 || !back[0].Component.Equal(&r.Component) ||
		back[0].Size != 10 || !back[0].Created.Equal(r.Created) || back[0].Comment != "c" {
		t.Fatalf("%s: %v %+v", b, err, back)
	}
	if err := json.Unmarshal([]byte(`{"digest": 5}`), &back[0]); err == nil {
		t.Fatal("a number as digest decoded")
	}
}
