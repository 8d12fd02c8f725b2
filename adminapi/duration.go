package adminapi

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Duration is a time.Duration written in JSON as Go duration text ("15m0s");
// it reads that text or a number of seconds.
type Duration struct{ time.Duration }

// MarshalJSON writes d as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "90s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("adminapi: duration: %w", err)
		}
		ns := n * float64(time.Second)
		// float64(math.MaxInt64) rounds up to 2^63, which no Duration holds.
		if math.IsNaN(ns) || ns >= math.MaxInt64 || ns < math.MinInt64 {
			return fmt.Errorf("adminapi: duration: %g seconds is out of range", n)
		}
		d.Duration = time.Duration(ns)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("adminapi: duration: %w", err)
	}
	d.Duration = v
	return nil
}
