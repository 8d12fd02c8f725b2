package campaign

import (
	"context"
	"errors"
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
	if e.clustered {
		lead, err := e.term(ctx)
		if err != nil || !lead {
			return err
		}
	}
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
		if State(c.rec.State) == Running {
			again := e.unanswered(c, now)
			for _, d := range again {
				jobs = append(jobs, c.pending(base, d))
			}
			if len(again) > 0 {
				// Each of these is a job that should have reached its
				// device already: the log line counts them
				// (fleet/clustertest counts re-sends).
				e.cfg.Log.Warn("campaign jobs published again: unanswered", "campaign", c.rec.ID, "devices", len(again), "after", unansweredAfter)
			}
		}
	}
	stateChanges, fence := e.unsavedStates(), e.fence
	e.mu.Unlock()
	if e.hookBeforeSave != nil {
		e.hookBeforeSave()
	}
	if err := e.saveStates(ctx, stateChanges, fence); err != nil {
		e.publishNextStep(jobs)
		return e.deposedIf(err)
	}
	// Progress is persisted before the jobs go out: a restart (or the
	// next evaluator) then finds every published job recorded as
	// notified.
	if err := e.flush(ctx, false); err != nil {
		e.publishNextStep(jobs)
		return e.deposedIf(err)
	}
	// Signed outside the lock: one ECDSA signature per job.
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	for _, j := range jobs {
		if e.stillPending(j) {
			e.publish(j)
		}
	}
	return nil
}

// publishNextStep keeps jobs whose step failed to write for the next
// step: the devices stay notified in memory (and are written again then),
// so nothing else would publish their jobs before unansweredAfter. The
// next step publishes them once their notification is stored
// (stillPending); a deposed evaluator's are dropped by that check too.
func (e *Engine) publishNextStep(jobs []pendingJob) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, j := range jobs {
		if c := e.byDevice[j.dev]; c != nil && c.rec.ID == j.campaign {
			e.republish[c] = append(e.republish[c], j.dev)
		}
	}
}

// unansweredAfter is how long a notified device may leave its job
// unanswered (no download begun, no report) before the evaluator
// publishes the job again, and then again at that period. A job can fail
// to reach a device on paths the evaluator cannot see: a step whose
// progress write failed after its notifications were stored, a bus
// message a node never received, a retained message a broker restart
// lost while the device stayed connected elsewhere. The device answers
// a job it already took with that job's outcome (agent: same job ID), so
// publishing again is safe; 300-device runs on a loaded machine showed
// whole steps' jobs never delivered (fleet/clustertest, docs/scale-out.md).
const unansweredAfter = 30 * time.Second

// unanswered are c's devices notified at least unansweredAfter ago, and
// not published again within it, that have not answered: their jobs are
// published again (as stored: the notification is the row's). Called with
// e.mu held.
func (e *Engine) unanswered(c *camp, now time.Time) []*dev {
	var out []*dev
	for _, d := range c.list {
		if d.status != Notified || d.stored != Notified || !d.storedNotified.Equal(d.notified) {
			continue
		}
		last := d.notified
		if d.republished.After(last) {
			last = d.republished
		}
		if now.Sub(last) < unansweredAfter {
			continue
		}
		d.republished = now
		out = append(out, d)
	}
	return out
}

// stillPending reports whether job j's notification is still the device's
// as recorded: an operator's cancel, or another node's write, may have
// overtaken it between the decision and the write.
func (e *Engine) stillPending(j pendingJob) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byDevice[j.dev]
	if c == nil || c.rec.ID != j.campaign || State(c.rec.State) == Stopped {
		return false
	}
	d := c.devs[j.dev]
	return d != nil && d.status.InFlight() && d.stored.InFlight() && d.storedNotified.Equal(j.notified)
}

// term begins a clustered step: it writes the device events this node
// took in, learns whether it is the evaluator (and under which epoch),
// and reads what the other nodes wrote (everything at the start of a
// term). It reports whether this node evaluates.
func (e *Engine) term(ctx context.Context) (bool, error) {
	if err := e.flush(ctx, true); err != nil {
		return false, err
	}
	epoch, ok := e.cfg.Leader()
	e.mu.Lock()
	newTerm := ok && (!e.leading || e.fence.Epoch != epoch)
	e.leading = ok
	if ok {
		e.fence = store.Fence{Name: LeaseName, Epoch: epoch}
	}
	if newTerm {
		// Health signals are read again from the audit log, from the
		// earliest notification in flight: renewals counted anew.
		e.lastPoll, e.auditID = time.Time{}, 0
		for _, c := range e.camps {
			for _, d := range c.list {
				d.renewals = 0
			}
		}
	}
	e.mu.Unlock()
	if err := e.sync(ctx, newTerm); err != nil {
		return false, err
	}
	if newTerm {
		// The jobs in flight are published again, as at a restart: the
		// previous evaluator may have died with a job decided and
		// written but not yet sent to the other nodes (its NATS
		// publish still buffered), and a device that fails over to
		// another node would never get it. A device that had it takes
		// the same job once (its ID and notification are the same).
		e.mu.Lock()
		for _, c := range e.camps {
			if State(c.rec.State) != Running {
				continue
			}
			e.republish[c] = e.republish[c][:0]
			for _, d := range c.list {
				if d.status.InFlight() {
					e.republish[c] = append(e.republish[c], d.id)
				}
			}
		}
		e.mu.Unlock()
		e.cfg.Log.Info("campaign evaluator: this node's term begins", "epoch", epoch)
	}
	return ok, nil
}

// deposedIf ends this node's term when err says another node holds the
// lease now (what it decided is dropped: the next read of the store
// replaces it); it returns err.
func (e *Engine) deposedIf(err error) error {
	if errors.Is(err, store.ErrFenced) {
		e.mu.Lock()
		e.leading, e.needFull = false, true
		e.mu.Unlock()
		e.cfg.Log.Warn("campaign evaluator deposed: another node holds the lease", "err", err)
	}
	return err
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

// saveStates records the engine's own transitions, audited (actor
// campaign), each against the version it was decided on and under the
// evaluator's fence. A transition overtaken by another write (an
// operator's action, on this node or another) is dropped and the campaign
// read again: the next step decides on what is stored.
func (e *Engine) saveStates(ctx context.Context, recs []*store.CampaignRecord, fence store.Fence) error {
	for _, r := range recs {
		a := &store.AuditEntry{Actor: "campaign", Action: "campaign." + r.State, Subject: r.ID, Decision: store.Allow, Reason: fmt.Sprintf("phase %d: %s", r.Phase, r.Reason)}
		old := r.Version
		err := e.cfg.Store.SetCampaignState(ctx, r, fence, a)
		if errors.Is(err, store.ErrConflict) {
			e.cfg.Log.Info("campaign transition overtaken by another write: read again", "campaign", r.ID, "state", r.State, "err", err)
			if err := e.reloadState(ctx, r.ID); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		e.mu.Lock()
		if c := e.camps[r.ID]; c != nil && c.rec.Version == old {
			c.rec.Version, c.rec.Updated = r.Version, e.cfg.Now()
		}
		e.mu.Unlock()
		e.cfg.Log.Info("campaign state", "campaign", r.ID, "state", r.State, "phase", r.Phase, "reason", r.Reason)
	}
	return nil
}

// reloadState replaces a campaign's state in memory with the stored one.
func (e *Engine) reloadState(ctx context.Context, id string) error {
	r, err := e.cfg.Store.Campaign(ctx, id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.camps[id]; c != nil {
		e.applyRecord(c, r, true)
	}
	return nil
}

// set changes a device's status and marks it for persistence. A failure
// applies the thresholds at once (on the evaluator), under the same lock
// that records it: no reader (Status, the image server, Step's notify)
// ever sees a crossed failure threshold on a running campaign. Step
// records the pause (and is woken to do so now).
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
	if st.IsFailure() && e.leading {
		e.evaluate(c)
		e.kick()
	}
}

// decide is set for the evaluator's own decisions (notification,
// timeout, health signal): the change is written under its fence.
func (e *Engine) decide(c *camp, d *dev, st Status, reason string) {
	e.set(c, d, st, reason)
	if e.fence.Epoch != 0 {
		d.fence = e.fence.Epoch
	}
}

// timeouts fails the devices not verified within the watch window.
func (e *Engine) timeouts(c *camp, now time.Time) {
	if State(c.rec.State) == Stopped || State(c.rec.State) == Completed {
		return
	}
	for _, d := range c.list {
		if d.status.InFlight() && !d.notified.IsZero() && now.Sub(d.notified) > c.spec.WatchWindow.Duration {
			e.decide(c, d, Failed, fmt.Sprintf("not verified within the %s watch window (last seen %s: did not reconnect or report)", c.spec.WatchWindow.Duration, d.status))
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
		e.decide(c, d, Notified, "")
		c.dirty[d.id] = d
		inflight++
		out = append(out, d)
	}
	return out
}

// flush writes the changed devices of every campaign (with events, only
// those taken in from devices and operators, not the evaluator's
// decisions), each from the row this node last saw: a change another
// node's write overtook is not made, and the device is read again. The
// evaluator's decisions are written under their fence; ErrFenced means
// this node was deposed, and they are dropped.
func (e *Engine) flush(ctx context.Context, events bool) error {
	type batch struct {
		c       *camp
		fence   int64
		devs    []*dev
		changes []store.DeviceChange
	}
	e.mu.Lock()
	var bs []*batch
	for _, c := range e.camps {
		if len(c.dirty) == 0 {
			continue
		}
		byFence := map[int64]*batch{}
		for id, d := range c.dirty {
			if events && d.fence != 0 {
				continue
			}
			b := byFence[d.fence]
			if b == nil {
				b = &batch{c: c, fence: d.fence}
				byFence[d.fence] = b
				bs = append(bs, b)
			}
			b.devs = append(b.devs, d)
			at := d.notified // the notification the change was decided on
			if d.status == Notified {
				at = d.storedNotified
			}
			b.changes = append(b.changes, store.DeviceChange{
				CampaignDevice: store.CampaignDevice{DeviceID: d.id, Phase: d.phase, Status: string(d.status), Reason: d.reason, Notified: d.notified},
				From:           fromStatuses(d.status), FromNotified: at})
			delete(c.dirty, id)
			d.fence = 0
		}
	}
	e.mu.Unlock()
	var firstErr error
	var reread []*batch
	for _, b := range bs {
		f := store.Fence{}
		if b.fence != 0 {
			f = store.Fence{Name: LeaseName, Epoch: b.fence}
		}
		applied, err := e.cfg.Store.ChangeCampaignDevices(ctx, b.c.rec.ID, b.changes, f)
		e.mu.Lock()
		var missed []*dev
		for i, d := range b.devs {
			switch {
			case applied[i]:
				d.stored, d.storedNotified = Status(b.changes[i].Status), b.changes[i].Notified
				e.wroteLocked(d)
			case err != nil && !errors.Is(err, store.ErrFenced):
				// Not written (the database failed): again next time,
				// unless something newer is pending.
				if b.c.dirty[d.id] == nil {
					b.c.dirty[d.id] = d
					d.fence = b.fence
				}
			default:
				missed = append(missed, d)
			}
		}
		e.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if len(missed) > 0 {
			reread = append(reread, &batch{c: b.c, devs: missed})
		}
	}
	for _, b := range reread {
		for _, d := range b.devs {
			readAt := e.readClock()
			row, err := e.cfg.Store.CampaignDevice(ctx, b.c.rec.ID, d.id)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			e.mu.Lock()
			delete(b.c.dirty, d.id) // decided on a row that is gone
			d.fence = 0
			e.applyRow(b.c, row, readAt)
			e.mu.Unlock()
		}
	}
	return firstErr
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
			e.decide(c, d, Failed, "attestation refused after the update: "+a.Reason)
			continue
		}
		d.renewals++
		if d.renewals > c.spec.MaxRenewals {
			e.decide(c, d, Failed, fmt.Sprintf("reboot loop: %d re-enrollments within the watch window", d.renewals))
			continue
		}
		if d.status != Rebooted {
			e.decide(c, d, Rebooted, "")
		}
	}
	e.auditID = maxID
	return nil
}
