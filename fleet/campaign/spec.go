package campaign

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"rampart/fleet/store"
)

// Status is a device's progress in a campaign.
type Status string

// Device statuses, in the order a successful update passes through them.
// Verified, Failed, Reverted and Cancelled are terminal.
const (
	Queued      Status = "queued"
	Notified    Status = "notified"
	Downloading Status = "downloading"
	Downloaded  Status = "downloaded"
	Installing  Status = "installing"
	Rebooted    Status = "rebooted"
	Verified    Status = "verified"
	Failed      Status = "failed"
	Reverted    Status = "reverted"
	Cancelled   Status = "cancelled"
)

// Statuses lists every status in order.
var Statuses = []Status{Queued, Notified, Downloading, Downloaded, Installing, Rebooted, Verified, Failed, Reverted, Cancelled}

// Terminal reports whether a device in st is done with the campaign.
func (st Status) Terminal() bool {
	return st == Verified || st == Failed || st == Reverted || st == Cancelled
}

// InFlight reports whether a device in st has been notified and is not done.
func (st Status) InFlight() bool { return !st.Terminal() && st != Queued }

// IsFailure reports whether st counts against the failure threshold.
func (st Status) IsFailure() bool { return st == Failed || st == Reverted }

// State is a campaign's state.
type State string

// Campaign states.
const (
	Running   State = "running"
	Awaiting  State = "awaiting-approval" // the current phase needs an operator's approve
	Paused    State = "paused"            // by an operator or by the failure threshold
	Stopped   State = "cancelled"
	Completed State = "completed"
)

// Duration is a time.Duration written as text in JSON ("90s", "15m").
type Duration struct{ time.Duration }

// MarshalJSON writes d as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "90s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("campaign: duration: %w", err)
		}
		d.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("campaign: duration: %w", err)
	}
	d.Duration = v
	return nil
}

// Filter selects target devices; empty fields match every device.
type Filter struct {
	// States are lifecycle states (default: active only).
	States []store.State `json:"states,omitempty"`
	// Manufacturer is the endorsing manufacturer's name.
	Manufacturer string `json:"manufacturer,omitempty"`
	// Versions are current firmware versions ("1.0.0"), as last reported
	// by the device (telemetry fw_version).
	Versions []string `json:"versions,omitempty"`
	// Devices is an explicit group of device IDs.
	Devices []string `json:"devices,omitempty"`
	// IDPrefix keeps devices whose ID starts with it.
	IDPrefix string `json:"id_prefix,omitempty"`
}

// Phase is one step of a rollout. Percent phases are cumulative shares of
// the targets (1, 10, 50, 100); a named phase lists its devices instead.
type Phase struct {
	Name    string   `json:"name,omitempty"`
	Percent float64  `json:"percent,omitempty"`
	Devices []string `json:"devices,omitempty"`
	// SuccessThreshold is the share of the phase's devices that must be
	// verified for the next phase to start (default 0.9). The phase also
	// ends when every device in it is done and failures stayed below the
	// failure threshold.
	SuccessThreshold float64 `json:"success_threshold,omitempty"`
	// FailureThreshold is the share of failed devices, counted over the
	// phases started so far, at which the campaign pauses (default 0.1).
	FailureThreshold float64 `json:"failure_threshold,omitempty"`
	// Approve makes the campaign wait for an operator before this phase.
	Approve bool `json:"approve,omitempty"`
}

// Window is a daily maintenance window in UTC; jobs are published only
// inside it. Start after End spans midnight.
type Window struct {
	Start string `json:"start"` // "HH:MM"
	End   string `json:"end"`   // "HH:MM"
}

// Spec is what an operator asks for.
type Spec struct {
	ID string `json:"id"`
	// Release is the hex measurement (image hash) of a registered release
	// whose image was uploaded to the campaign engine.
	Release string  `json:"release"`
	Filter  Filter  `json:"filter"`
	Phases  []Phase `json:"phases"`
	// MaxConcurrent bounds the devices notified and not yet done (default 100).
	MaxConcurrent int `json:"max_concurrent,omitempty"`
	// WatchWindow is how long a notified device has to be verified; a
	// device still not verified then (it did not reconnect, or is stuck)
	// counts as failed (default 15m).
	WatchWindow Duration `json:"watch_window,omitzero"`
	// MaxRenewals is how many re-enrollments within the watch window mark a
	// reboot loop (default 4).
	MaxRenewals int     `json:"max_renewals,omitempty"`
	Window      *Window `json:"window,omitempty"`
}

var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// Defaults fills in the defaults.
func (s *Spec) Defaults() {
	if len(s.Phases) == 0 {
		s.Phases = []Phase{{Name: "all", Percent: 100}}
	}
	for i := range s.Phases {
		p := &s.Phases[i]
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 0.9
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 0.1
		}
		if p.Name == "" {
			p.Name = fmt.Sprintf("%g%%", p.Percent)
		}
	}
	if s.MaxConcurrent == 0 {
		s.MaxConcurrent = 100
	}
	if s.WatchWindow.Duration == 0 {
		s.WatchWindow.Duration = 15 * time.Minute
	}
	if s.MaxRenewals == 0 {
		s.MaxRenewals = 4
	}
	if len(s.Filter.States) == 0 {
		s.Filter.States = []store.State{store.Active}
	}
}

// Validate checks every field (after Defaults).
func (s *Spec) Validate() error {
	if !idRE().MatchString(s.ID) {
		return fmt.Errorf("campaign: id: %q: want 1..64 of [A-Za-z0-9._-]", s.ID)
	}
	if d, err := hex.DecodeString(s.Release); err != nil || (len(d) != 32 && len(d) != 48 && len(d) != 64) {
		return errors.New("campaign: release: want the hex measurement of a registered release")
	}
	named, last := 0, 0.0
	for i, p := range s.Phases {
		if len(p.Devices) > 0 {
			named++
			if p.Percent != 0 {
				return fmt.Errorf("campaign: phases[%d]: both percent and devices", i)
			}
		} else {
			if p.Percent <= last || p.Percent > 100 {
				return fmt.Errorf("campaign: phases[%d]: percent %g: want cumulative, increasing, at most 100", i, p.Percent)
			}
			last = p.Percent
		}
		if p.SuccessThreshold < 0 || p.SuccessThreshold > 1 || p.FailureThreshold <= 0 || p.FailureThreshold > 1 {
			return fmt.Errorf("campaign: phases[%d]: thresholds are shares in (0, 1]", i)
		}
	}
	if named != 0 && named != len(s.Phases) {
		return errors.New("campaign: phases: either all named (devices) or all percent")
	}
	if named == 0 && last != 100 {
		return fmt.Errorf("campaign: phases: the last phase is %g%%, want 100", last)
	}
	if s.MaxConcurrent < 0 || s.MaxRenewals < 0 || s.WatchWindow.Duration < 0 {
		return errors.New("campaign: max_concurrent, max_renewals and watch_window must not be negative")
	}
	for _, st := range s.Filter.States {
		if !st.Valid() {
			return fmt.Errorf("campaign: filter: state %q", st)
		}
	}
	if s.Window != nil {
		if _, err := clock(s.Window.Start); err != nil {
			return fmt.Errorf("campaign: window: start: %w", err)
		}
		if _, err := clock(s.Window.End); err != nil {
			return fmt.Errorf("campaign: window: end: %w", err)
		}
	}
	return nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Open reports whether now lies in the window (always, without one).
func (w *Window) Open(now time.Time) bool {
	if w == nil {
		return true
	}
	a, _ := clock(w.Start)
	b, _ := clock(w.End)
	now = now.UTC()
	t := now.Sub(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC))
	if a <= b {
		return t >= a && t < b
	}
	return t >= a || t < b
}
