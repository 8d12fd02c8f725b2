package campaign

import (
	"context"
	"time"

	"rampart/fleet/store"
)

// Several nodes on one database (Config.Leader set; docs/campaigns.md,
// "Several nodes"). The store is the campaigns' record: every node writes
// what it takes in (device events, operator actions) with conditional
// writes, and reads what the others wrote every Tick (sync); the node
// holding the lease LeaseName evaluates, its writes fenced by the lease's
// epoch.

// LeaseName is the store lease whose holder evaluates the campaigns.
const LeaseName = "campaigns"

const (
	// syncMargin is how far before the last read a row's write time
	// (the writer's clock) may be and still be read again: clock skew
	// between nodes and the time between a row's write and its commit.
	syncMargin = 5 * time.Second
	// fullSyncEvery: every so many reads, every row is read (a commit
	// slower than syncMargin is picked up there).
	fullSyncEvery = 30
	// demandEvery bounds the reads made on demand (a device this node
	// does not know in a campaign, which anybody on the network can
	// name).
	demandEvery = 250 * time.Millisecond
)

// sync reads the campaigns and the device rows written since the last
// read (all of them when full) into memory. A campaign this node does not
// know is loaded; a cancelled one is dropped. Rows with a change of this
// node's pending are left to its conditional write.
func (e *Engine) sync(ctx context.Context, full bool) error {
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	start := e.cfg.Now()
	e.mu.Lock()
	since := e.lastSync.Add(-syncMargin)
	full = full || e.needFull || e.lastSync.IsZero() || e.syncs%fullSyncEvery == 0
	e.needFull = false
	e.syncs++
	readAt := e.writes
	e.mu.Unlock()
	recs, err := e.cfg.Store.Campaigns(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		e.mu.Lock()
		c := e.camps[r.ID]
		e.mu.Unlock()
		ended := State(r.State) == Stopped || State(r.State) == Completed
		if c == nil {
			if ended {
				continue
			}
			if c, err = e.load(ctx, r); err != nil {
				return err
			}
			e.mu.Lock()
			if e.camps[r.ID] == nil {
				e.addLocked(c)
			}
			e.mu.Unlock()
			continue
		}
		var rows []store.CampaignDevice
		if State(r.State) != Stopped {
			if full {
				rows, err = e.cfg.Store.CampaignDevices(ctx, r.ID)
			} else {
				rows, err = e.cfg.Store.CampaignDevicesSince(ctx, r.ID, since)
			}
			if err != nil {
				return err
			}
		}
		e.mu.Lock()
		for i := range rows {
			e.applyRow(c, &rows[i], readAt)
		}
		e.applyRecord(c, r, false)
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.lastSync = start
	e.mu.Unlock()
	return nil
}

// syncOnDemand reads the store now, unless it was read on demand within
// demandEvery.
func (e *Engine) syncOnDemand(ctx context.Context) {
	e.syncMu.Lock()
	if e.cfg.Now().Sub(e.lastDemand) < demandEvery && !e.lastDemand.IsZero() {
		e.syncMu.Unlock()
		return
	}
	e.lastDemand = e.cfg.Now()
	e.syncMu.Unlock()
	if err := e.sync(ctx, false); err != nil {
		e.cfg.Log.Warn("campaign store read failed", "err", err)
	}
}

// applyRecord takes the stored state of campaign c when it is newer than
// memory's, or, at the same version, when forced or on a node that does
// not evaluate (which decides no transition, and drops one it decided
// before it was deposed); a cancelled campaign is dropped. Called with
// e.mu held.
func (e *Engine) applyRecord(c *camp, r *store.CampaignRecord, force bool) {
	if r.Version < c.rec.Version || (r.Version == c.rec.Version && !force && e.leading) {
		return
	}
	c.rec.State, c.rec.Phase, c.rec.Reason, c.rec.AckedFailures, c.rec.Version, c.rec.Updated = r.State, r.Phase, r.Reason, r.AckedFailures, r.Version, r.Updated
	c.saved = c.stateKey()
	if State(r.State) == Stopped {
		e.drop(c)
	}
}

// drop forgets a cancelled campaign. Called with e.mu held.
func (e *Engine) drop(c *camp) {
	if e.camps[c.rec.ID] == c {
		delete(e.camps, c.rec.ID)
	}
	for _, d := range c.list {
		if e.byDevice[d.id] == c {
			delete(e.byDevice, d.id)
			delete(e.signed, d.id)
		}
	}
}

// applyRow takes a device's stored row into memory unless a change of
// this node's is pending for it, or this node wrote the row after the
// read began (readAt, from readClock): a read that raced with the
// evaluator's own write would otherwise take the device back (say, from
// notified to queued) after the write, and the job it decided would not
// be published (stillPending). Called with e.mu held.
func (e *Engine) applyRow(c *camp, row *store.CampaignDevice, readAt uint64) {
	d := c.devs[row.DeviceID]
	if d == nil || c.dirty[d.id] != nil || d.wrote > readAt {
		return
	}
	st := Status(row.Status)
	d.stored, d.storedNotified = st, row.Notified
	if d.status == st && d.reason == row.Reason && d.notified.Equal(row.Notified) {
		return
	}
	d.status, d.reason, d.notified = st, row.Reason, row.Notified
	switch {
	case st.Terminal():
		if e.byDevice[d.id] == c {
			delete(e.byDevice, d.id)
		}
		delete(e.signed, d.id)
		if st.IsFailure() && e.leading {
			e.evaluate(c)
		}
	case e.camps[c.rec.ID] == c:
		e.byDevice[d.id] = c
	}
}

// refreshDevice reads a device's row in its current campaign (or, when
// this node knows of none, the campaigns) before an event of it is taken
// in: on several nodes, the evaluator's notification may be newer than
// this node's last read.
func (e *Engine) refreshDevice(ctx context.Context, deviceID, campaignID string) {
	e.mu.Lock()
	c := e.byDevice[deviceID]
	e.mu.Unlock()
	if c == nil || (campaignID != "" && c.rec.ID != campaignID) {
		e.syncOnDemand(ctx)
		e.mu.Lock()
		c = e.byDevice[deviceID]
		e.mu.Unlock()
		if c == nil {
			return
		}
	}
	readAt := e.readClock()
	row, err := e.cfg.Store.CampaignDevice(ctx, c.rec.ID, deviceID)
	if err != nil {
		e.cfg.Log.Warn("campaign store read failed", "device", deviceID, "err", err)
		return
	}
	e.mu.Lock()
	e.applyRow(c, row, readAt)
	e.mu.Unlock()
}

// readClock is the writes clock to pass to applyRow for a read that
// begins now.
func (e *Engine) readClock() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes
}

// wroteLocked records that this node just wrote d's row. Called with
// e.mu held.
func (e *Engine) wroteLocked(d *dev) {
	e.writes++
	d.wrote = e.writes
}
