package campaign

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/store"
)

// Step runs one evaluation: health signals from the audit log (re-enrollment
// after the update, refused attestation), watch-window timeouts, thresholds
// (pause, advance, complete), job publication, and persistence of every
// change. The loop calls it every Tick and whenever a failure is reported.
func (e *Engine) Step(ctx context.Context) error {
	now := e.cfg.Now()
	if err := e.pollAudit(ctx, now); err != nil {
		return err
	}
	var jobs []pendingJob
	base := e.cfg.ImageBase()
	e.mu.Lock()
	for c, ids := range e.republish {
		for _, id := range ids {
			if d := c.devs[id]; d != nil && d.status.InFlight() {
				jobs = append(jobs, c.pending(base, d))
			}
		}
	}
	clear(e.republish)
	for _, c := range e.camps {
		e.timeouts(c, now)
		e.evaluate(c)
		if State(c.rec.State) == Running && c.spec.Window.Open(now) {
			for _, d := range e.notify(c, now) {
				jobs = append(jobs, c.pending(base, d))
			}
		}
	}
	stateChanges := e.unsavedStates()
	e.mu.Unlock()
	if err := e.saveStates(ctx, stateChanges); err != nil {
		return err
	}
	// Progress is persisted before the jobs go out: a restart then finds
	// every published job recorded as notified.
	if err := e.flush(ctx); err != nil {
		return err
	}
	// Signed outside the lock: one ECDSA signature per job.
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	for _, j := range jobs {
		e.publish(j)
	}
	return nil
}

// job is the agent's job for device d, before it is signed: its URL
// carries the device's download token, its nonce the challenge for the
// outcome's attestation. Called with e.mu held.
func (c *camp) job(base string, d *dev) deviceproto.Job {
	return deviceproto.Job{ID: c.rec.ID, Version: c.version, Size: c.size, SHA256: c.imageSHA,
		URL:   base + "/images/" + c.imageSHA + "?device=" + url.QueryEscape(d.id) + "&token=" + c.downloadToken(d.id),
		Nonce: c.outcomeNonce(d.id, d.notified)}
}

// stateKey is what Step compares with saved to find a transition to record.
func (c *camp) stateKey() string { return c.rec.State + "/" + fmt.Sprint(c.rec.Phase) }

// unsavedStates returns the campaigns whose state or phase changed since
// it was last recorded, and marks them recorded. Called with e.mu held.
func (e *Engine) unsavedStates() []*store.CampaignRecord {
	var out []*store.CampaignRecord
	for _, c := range e.camps {
		if k := c.stateKey(); k != c.saved {
			c.saved = k
			r := c.rec
			out = append(out, &r)
		}
	}
	return out
}

// saveStates records the engine's own transitions, audited (actor campaign).
func (e *Engine) saveStates(ctx context.Context, recs []*store.CampaignRecord) error {
	for _, r := range recs {
		a := &store.AuditEntry{Actor: "campaign", Action: "campaign." + r.State, Subject: r.ID, Decision: store.Allow, Reason: fmt.Sprintf("phase %d: %s", r.Phase, r.Reason)}
		if err := e.cfg.Store.SetCampaignState(ctx, r, a); err != nil {
			return err
		}
		e.cfg.Log.Info("campaign state", "campaign", r.ID, "state", r.State, "phase", r.Phase, "reason", r.Reason)
	}
	return nil
}

// set changes a device's status and marks it for persistence. A failure
// applies the thresholds at once, under the same lock that records it: no
// reader (Status, the image server, Step's notify) ever sees a crossed
// failure threshold on a running campaign. Step records the pause (and is
// woken to do so now).
func (e *Engine) set(c *camp, d *dev, st Status, reason string) {
	if d.status == st && d.reason == reason {
		return
	}
	d.status, d.reason = st, reason
	c.dirty[d.id] = d
	if st.Terminal() {
		delete(e.byDevice, d.id)
		delete(e.signed, d.id)
	}
	if st.IsFailure() {
		e.evaluate(c)
		e.kick()
	}
}

// timeouts fails the devices not verified within the watch window.
func (e *Engine) timeouts(c *camp, now time.Time) {
	if State(c.rec.State) == Stopped || State(c.rec.State) == Completed {
		return
	}
	for _, d := range c.list {
		if d.status.InFlight() && !d.notified.IsZero() && now.Sub(d.notified) > c.spec.WatchWindow.Duration {
			e.set(c, d, Failed, fmt.Sprintf("not verified within the %s watch window (last seen %s: did not reconnect or report)", c.spec.WatchWindow.Duration, d.status))
		}
	}
}

// counts returns failures (beyond those acknowledged) and the number of
// devices in the phases started so far, and verified and done in the
// current phase.
func (c *camp) counts() (failed, started, verified, done int) {
	for _, d := range c.list {
		if d.phase > c.rec.Phase {
			continue
		}
		started++
		if d.status.IsFailure() {
			failed++
		}
		if d.phase == c.rec.Phase {
			if d.status == Verified {
				verified++
			}
			if d.status.Terminal() {
				done++
			}
		}
	}
	return failed - c.rec.AckedFailures, started, verified, done
}

// evaluate applies the thresholds of the current phase.
func (e *Engine) evaluate(c *camp) {
	if State(c.rec.State) != Running {
		return
	}
	for {
		p := c.spec.Phases[c.rec.Phase]
		failed, started, verified, done := c.counts()
		if failed > 0 && float64(failed) >= p.FailureThreshold*float64(started) {
			c.rec.State = string(Paused)
			c.rec.Reason = fmt.Sprintf("failure threshold crossed in phase %s: %d failed of %d started (threshold %g%%)", p.Name, failed, started, p.FailureThreshold*100)
			return
		}
		size := c.phaseSize[c.rec.Phase]
		if verified < int(math.Ceil(p.SuccessThreshold*float64(size))) && done < size {
			return
		}
		if c.rec.Phase == len(c.spec.Phases)-1 {
			if c.allDone() {
				c.rec.State, c.rec.Reason = string(Completed), ""
			}
			return
		}
		c.rec.Phase++
		if c.spec.Phases[c.rec.Phase].Approve {
			c.rec.State, c.rec.Reason = string(Awaiting), "phase "+c.spec.Phases[c.rec.Phase].Name+" waits for approval"
			return
		}
	}
}

func (c *camp) allDone() bool {
	for _, d := range c.list {
		if !d.status.Terminal() {
			return false
		}
	}
	return true
}

// notify picks queued devices of the started phases, within MaxConcurrent.
func (e *Engine) notify(c *camp, now time.Time) []*dev {
	inflight := 0
	for _, d := range c.list {
		if d.status.InFlight() {
			inflight++
		}
	}
	var out []*dev
	for _, d := range c.list {
		if inflight >= c.spec.MaxConcurrent || d.phase > c.rec.Phase {
			break
		}
		if d.status != Queued {
			continue
		}
		d.notified = now
		e.set(c, d, Notified, "")
		c.dirty[d.id] = d
		inflight++
		out = append(out, d)
	}
	return out
}

// flush writes the changed devices of every campaign.
func (e *Engine) flush(ctx context.Context) error {
	e.mu.Lock()
	type batch struct {
		id   string
		rows []store.CampaignDevice
	}
	var bs []batch
	for _, c := range e.camps {
		if len(c.dirty) == 0 {
			continue
		}
		b := batch{id: c.rec.ID}
		for _, d := range c.dirty {
			b.rows = append(b.rows, store.CampaignDevice{DeviceID: d.id, Phase: d.phase, Status: string(d.status), Reason: d.reason, Notified: d.notified})
		}
		c.dirty = map[string]*dev{}
		bs = append(bs, b)
	}
	e.mu.Unlock()
	for _, b := range bs {
		if err := e.cfg.Store.SetCampaignDevices(ctx, b.id, b.rows); err != nil {
			return err
		}
	}
	return nil
}

// pollAudit reads re-enrollments since the last poll: an accepted renewal
// after notification means the device rebooted into the new image (the
// agent re-enrolls in the trial boot); a refused one is a failed
// attestation; too many renewals within the watch window are a reboot loop.
func (e *Engine) pollAudit(ctx context.Context, now time.Time) error {
	e.mu.Lock()
	since := e.lastPoll.Add(-2 * time.Second)
	if e.lastPoll.IsZero() {
		since = time.Time{}
		for _, c := range e.camps {
			for _, d := range c.list {
				if d.status.InFlight() && (since.IsZero() || d.notified.Before(since)) {
					since = d.notified
				}
			}
		}
		if since.IsZero() {
			since = now
		}
	}
	busy := len(e.byDevice) > 0
	e.lastPoll = now
	e.mu.Unlock()
	if !busy {
		return nil
	}
	list, err := e.cfg.Store.AuditLog(ctx, store.AuditFilter{Action: "renew", Since: since, Limit: 1 << 20})
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	maxID := e.auditID
	for i := len(list) - 1; i >= 0; i-- { // oldest first
		a := list[i]
		if a.ID <= e.auditID {
			continue
		}
		maxID = max(maxID, a.ID)
		c := e.byDevice[a.Subject]
		if c == nil {
			continue
		}
		d := c.devs[a.Subject]
		if d == nil || !d.status.InFlight() || a.Time.Before(d.notified.Truncate(time.Millisecond)) {
			continue
		}
		if a.Decision != store.Allow {
			e.set(c, d, Failed, "attestation refused after the update: "+a.Reason)
			continue
		}
		d.renewals++
		if d.renewals > c.spec.MaxRenewals {
			e.set(c, d, Failed, fmt.Sprintf("reboot loop: %d re-enrollments within the watch window", d.renewals))
			continue
		}
		if d.status != Rebooted {
			e.set(c, d, Rebooted, "")
		}
	}
	e.auditID = maxID
	return nil
}
