package campaign

import (
	"context"
	"errors"
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

// Status returns a campaign's progress; finished campaigns, and on
// several nodes every campaign, are read from the store.
func (e *Engine) Status(id string, devices bool) (*Summary, error) {
	if !e.clustered {
		e.mu.Lock()
		c := e.camps[id]
		if c != nil {
			s := c.summary(devices)
			e.mu.Unlock()
			return s, nil
		}
		e.mu.Unlock()
	}
	ctx := context.Background()
	r, err := e.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := e.load(ctx, r)
	if err != nil {
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

// Control applies an operator's action, audited with actor. It decides on
// the campaign as stored and writes against the version it read: a
// transition of the evaluator (on this node or another) that lands first
// makes it read again, and one that was decided before the action is
// refused when it comes to be written (saveStates), so neither overwrites
// the other.
func (e *Engine) Control(ctx context.Context, id string, a Action, actor, reason string) (*Summary, error) {
	// A transition the engine made since its last step (a failure paused
	// the campaign) is recorded first, so the audit log shows it before
	// the operator's action; so is the progress this node took in.
	if err := e.deposedIf(e.savePending(ctx)); err != nil && !errors.Is(err, store.ErrFenced) {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		s, err := e.control(ctx, id, a, actor, reason)
		if errors.Is(err, store.ErrConflict) && attempt < 8 {
			continue
		}
		return s, err
	}
}

// control is one attempt of Control.
func (e *Engine) control(ctx context.Context, id string, a Action, actor, reason string) (*Summary, error) {
	r, err := e.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	from := State(r.State)
	if from == Stopped || from == Completed {
		e.mu.Lock()
		if c := e.camps[id]; c != nil {
			e.applyRecord(c, r, true)
		}
		e.mu.Unlock()
		return nil, fmt.Errorf("campaign: %s is %s: cannot %s: %w", id, from, a, ErrState)
	}
	readAt := e.readClock()
	rows, err := e.cfg.Store.CampaignDevices(ctx, id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	c := e.camps[id]
	e.mu.Unlock()
	if c == nil { // created on another node, not read here yet
		if c, err = e.load(ctx, r); err != nil {
			return nil, err
		}
		e.mu.Lock()
		if e.camps[id] == nil {
			e.addLocked(c)
		}
		c = e.camps[id]
		e.mu.Unlock()
		if c == nil {
			return nil, fmt.Errorf("campaign: %s has ended: %w", id, ErrState)
		}
	}
	e.mu.Lock()
	for i := range rows {
		e.applyRow(c, &rows[i], readAt)
	}
	e.applyRecord(c, r, true)
	nr := c.rec
	nr.Version = r.Version
	var cancel []*dev
	switch {
	case a == Pause && (from == Running || from == Awaiting):
		nr.State, nr.Reason = string(Paused), "paused by "+actor+": "+reason
	case a == Resume && from == Paused:
		failed, _, _, _ := c.counts()
		nr.AckedFailures += failed
		nr.State, nr.Reason = string(Running), ""
	case a == Approve && from == Awaiting:
		nr.State, nr.Reason = string(Running), ""
	case a == Cancel:
		nr.State, nr.Reason = string(Stopped), "cancelled by "+actor+": "+reason
		for _, d := range c.list {
			if d.status == Queued || d.status == Notified {
				cancel = append(cancel, d)
			}
		}
	default:
		e.mu.Unlock()
		return nil, fmt.Errorf("campaign: %s is %s: cannot %s: %w", id, from, a, ErrState)
	}
	e.mu.Unlock()
	audit := &store.AuditEntry{Actor: actor, Action: "campaign." + string(a), Subject: id, Decision: store.Allow, Reason: reason}
	if err := e.cfg.Store.SetCampaignState(ctx, &nr, store.Fence{}, audit); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.applyRecord(c, &nr, true)
	e.mu.Unlock()
	if len(cancel) > 0 {
		clear, err := e.cancelDevices(ctx, c, cancel)
		if err != nil {
			return nil, err
		}
		e.pubMu.Lock() // after any job still being published
		for _, dev := range clear {
			e.cfg.Publish(dev, nil, time.Time{}) // clear the retained job
		}
		e.pubMu.Unlock()
	}
	e.kick()
	return e.Status(id, false)
}

// cancelDevices moves the queued and notified devices of a cancelled
// campaign to cancelled, each from its stored row, and returns the
// notified ones, whose retained job is to be cleared. A device whose row
// changed under the write (the evaluator notified it) is read again and
// cancelled from there; one that moved on (downloading) keeps its status.
func (e *Engine) cancelDevices(ctx context.Context, c *camp, devs []*dev) ([]string, error) {
	var clear []string
	for round := 0; len(devs) > 0 && round < 4; round++ {
		e.mu.Lock()
		var changes []store.DeviceChange
		var todo []*dev
		for _, d := range devs {
			if d.stored != Queued && d.stored != Notified {
				continue
			}
			why := "campaign cancelled"
			if d.stored == Notified {
				why = "campaign cancelled before the download"
			}
			todo = append(todo, d)
			changes = append(changes, store.DeviceChange{CampaignDevice: store.CampaignDevice{DeviceID: d.id, Phase: d.phase, Status: string(Cancelled), Reason: why, Notified: d.storedNotified},
				From: []string{string(d.stored)}, FromNotified: d.storedNotified})
		}
		e.mu.Unlock()
		applied, err := e.cfg.Store.ChangeCampaignDevices(ctx, c.rec.ID, changes, store.Fence{})
		if err != nil {
			return nil, err
		}
		devs = devs[:0]
		for i, d := range todo {
			if !applied[i] {
				readAt := e.readClock()
				row, err := e.cfg.Store.CampaignDevice(ctx, c.rec.ID, d.id)
				if err != nil {
					return nil, err
				}
				e.mu.Lock()
				delete(c.dirty, d.id)
				e.applyRow(c, row, readAt)
				e.mu.Unlock()
				devs = append(devs, d)
				continue
			}
			if changes[i].From[0] == string(Notified) {
				clear = append(clear, d.id)
			}
			e.mu.Lock()
			d.status, d.reason = Cancelled, changes[i].Reason
			d.stored, d.notified = Cancelled, changes[i].Notified
			e.wroteLocked(d)
			delete(c.dirty, d.id)
			e.mu.Unlock()
		}
	}
	return clear, nil
}
