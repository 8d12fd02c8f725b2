package campaign

import (
	"context"
	"fmt"
	"sort"
	"time"

	"rampart/fleet/store"
)

// PhaseSummary is the progress of one phase.
type PhaseSummary struct {
	Name     string `json:"name"`
	Devices  int    `json:"devices"`
	Verified int    `json:"verified"`
	Failed   int    `json:"failed"`
	InFlight int    `json:"in_flight"`
}

// DeviceProgress is one device's progress.
type DeviceProgress struct {
	ID       string    `json:"id"`
	Phase    int       `json:"phase"`
	Status   Status    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	Notified time.Time `json:"notified,omitzero"`
}

// Summary is what `rampart campaign status` shows.
type Summary struct {
	ID        string           `json:"id"`
	State     State            `json:"state"`
	Reason    string           `json:"reason,omitempty"`
	Phase     int              `json:"phase"`
	PhaseName string           `json:"phase_name"`
	Release   string           `json:"release"`
	Version   string           `json:"version"`
	Image     string           `json:"image_sha256"`
	Total     int              `json:"total"`
	Counts    map[Status]int   `json:"counts"`
	Phases    []PhaseSummary   `json:"phases"`
	Created   time.Time        `json:"created"`
	Updated   time.Time        `json:"updated"`
	Devices   []DeviceProgress `json:"devices,omitempty"`
	Spec      *Spec            `json:"spec,omitempty"`
	Acked     int              `json:"acknowledged_failures,omitempty"`
}

func (c *camp) summary(devices bool) *Summary {
	s := &Summary{ID: c.rec.ID, State: State(c.rec.State), Reason: c.rec.Reason, Phase: c.rec.Phase, PhaseName: c.spec.Phases[c.rec.Phase].Name,
		Release: c.spec.Release, Version: c.version, Image: c.imageSHA, Total: len(c.list), Counts: map[Status]int{},
		Created: c.rec.Created, Updated: c.rec.Updated, Acked: c.rec.AckedFailures}
	sp := c.spec
	s.Spec = &sp
	for i, p := range c.spec.Phases {
		s.Phases = append(s.Phases, PhaseSummary{Name: p.Name, Devices: c.phaseSize[i]})
	}
	for _, d := range c.list {
		s.Counts[d.status]++
		ps := &s.Phases[d.phase]
		switch {
		case d.status == Verified:
			ps.Verified++
		case d.status.IsFailure():
			ps.Failed++
		case d.status.InFlight():
			ps.InFlight++
		}
		if devices {
			s.Devices = append(s.Devices, DeviceProgress{ID: d.id, Phase: d.phase, Status: d.status, Reason: d.reason, Notified: d.notified})
		}
	}
	if devices {
		sort.Slice(s.Devices, func(i, j int) bool { return s.Devices[i].ID < s.Devices[j].ID })
	}
	return s
}

// Status returns a campaign's progress; finished campaigns are read from
// the store.
func (e *Engine) Status(id string, devices bool) (*Summary, error) {
	e.mu.Lock()
	c := e.camps[id]
	if c != nil {
		s := c.summary(devices)
		e.mu.Unlock()
		return s, nil
	}
	e.mu.Unlock()
	ctx := context.Background()
	r, err := e.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if c, err = e.load(ctx, r); err != nil {
		return nil, err
	}
	return c.summary(devices), nil
}

// List returns every campaign's summary, oldest first.
func (e *Engine) List(ctx context.Context) ([]*Summary, error) {
	recs, err := e.cfg.Store.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	out := []*Summary{}
	for _, r := range recs {
		s, err := e.Status(r.ID, false)
		if err != nil {
			return nil, err
		}
		s.Spec = nil
		out = append(out, s)
	}
	return out, nil
}

// Action is an operator's command on a campaign.
type Action string

// Operator actions.
const (
	Pause   Action = "pause"
	Resume  Action = "resume"
	Cancel  Action = "cancel"
	Approve Action = "approve"
)

// Control applies an operator's action, audited with actor.
func (e *Engine) Control(ctx context.Context, id string, a Action, actor, reason string) (*Summary, error) {
	e.mu.Lock()
	c := e.camps[id]
	if c == nil {
		e.mu.Unlock()
		if _, err := e.cfg.Store.Campaign(ctx, id); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("campaign: %s has ended: %w", id, ErrState)
	}
	// A transition the engine made since its last step (a failure paused
	// the campaign) is recorded first, so the audit log shows it before
	// the operator's action.
	pending := e.unsavedStates()
	from := State(c.rec.State)
	var clear []string
	switch {
	case a == Pause && (from == Running || from == Awaiting):
		c.rec.State, c.rec.Reason = string(Paused), "paused by "+actor+": "+reason
	case a == Resume && from == Paused:
		failed, _, _, _ := c.counts()
		c.rec.AckedFailures += failed
		c.rec.State, c.rec.Reason = string(Running), ""
	case a == Approve && from == Awaiting:
		c.rec.State, c.rec.Reason = string(Running), ""
	case a == Cancel && from != Stopped && from != Completed:
		c.rec.State, c.rec.Reason = string(Stopped), "cancelled by "+actor+": "+reason
		for _, d := range c.list {
			switch {
			case d.status == Queued:
				e.set(c, d, Cancelled, "campaign cancelled")
			case d.status == Notified:
				e.set(c, d, Cancelled, "campaign cancelled before the download")
				clear = append(clear, d.id)
			}
		}
	default:
		e.mu.Unlock()
		if err := e.saveStates(ctx, pending); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("campaign: %s is %s: cannot %s: %w", id, from, a, ErrState)
	}
	c.saved = c.stateKey() // recorded below
	r := c.rec
	if State(r.State) == Stopped {
		delete(e.camps, id)
		for _, d := range c.list {
			if e.byDevice[d.id] == c {
				delete(e.byDevice, d.id)
				delete(e.signed, d.id)
			}
		}
	}
	rows := make([]store.CampaignDevice, 0, len(c.dirty))
	for _, d := range c.dirty {
		rows = append(rows, store.CampaignDevice{DeviceID: d.id, Phase: d.phase, Status: string(d.status), Reason: d.reason, Notified: d.notified})
	}
	c.dirty = map[string]*dev{}
	e.mu.Unlock()
	if err := e.saveStates(ctx, pending); err != nil {
		return nil, err
	}
	if err := e.cfg.Store.SetCampaignDevices(ctx, id, rows); err != nil {
		return nil, err
	}
	audit := &store.AuditEntry{Actor: actor, Action: "campaign." + string(a), Subject: id, Decision: store.Allow, Reason: reason}
	if err := e.cfg.Store.SetCampaignState(ctx, &r, audit); err != nil {
		return nil, err
	}
	e.pubMu.Lock() // after any job still being published
	for _, dev := range clear {
		e.cfg.Publish(dev, nil, time.Time{}) // clear the retained job
	}
	e.pubMu.Unlock()
	e.kick()
	return e.Status(id, false)
}
