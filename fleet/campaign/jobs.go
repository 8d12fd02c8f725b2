package campaign

import (
	"time"

	"rampart/deviceproto"
)

// A device must get its job whenever it connects while the job is in
// flight in a running campaign. The broker keeps the retained job only
// in memory, until the job expires; a device offline past that (or a
// server restart, before Step republishes) would otherwise never see
// it. So the broker tells the engine when a device's session starts
// (Connected, before the device subscribes), and the engine publishes
// the device's job again: the message it signed last, or a new signature
// of the same job (same campaign, image, download token and outcome
// nonce) once half of that one's validity has passed.

// pendingJob is a job to sign and publish: device d's of campaign c at
// its notification.
type pendingJob struct {
	campaign, dev string
	notified      time.Time
	job           deviceproto.Job
}

// signedJob is the job last published to an in-flight device, as signed.
type signedJob struct {
	campaign        string
	notified        time.Time
	msg             []byte
	issued, expires time.Time
}

// fresh reports whether s may be published again at now for device d's
// current job: the same notification, and less than half its validity
// gone.
func (s *signedJob) fresh(c *camp, d *dev, now time.Time) bool {
	return s != nil && s.campaign == c.rec.ID && s.notified.Equal(d.notified) && now.Before(s.issued.Add(s.expires.Sub(s.issued)/2))
}

// pending is device d's job to sign. Called with e.mu held.
func (c *camp) pending(base string, d *dev) pendingJob {
	return pendingJob{campaign: c.rec.ID, dev: d.id, notified: d.notified, job: c.job(base, d)}
}

// publish signs and publishes j and remembers the signed message while
// the device's job is in flight. Called with e.pubMu held.
func (e *Engine) publish(j pendingJob) {
	msg, bound, err := e.cfg.Jobs.SignJob(j.dev, j.job)
	expires := time.UnixMilli(bound.Expires)
	if err == nil {
		err = e.cfg.Publish(j.dev, msg, expires)
	}
	if err != nil {
		e.cfg.Log.Warn("job not published", "device", j.dev, "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.byDevice[j.dev]; c != nil && c.rec.ID == j.campaign {
		e.signed[j.dev] = &signedJob{campaign: j.campaign, notified: j.notified, msg: msg, issued: time.UnixMilli(bound.Issued), expires: expires}
	}
}

// Connected is told that deviceID's MQTT session has started (the
// broker's OnConnect, before the device subscribes). If the device has a
// job in flight in a running campaign, the job is published again, so
// that the retained message the device's subscription receives is its
// current job, whatever became of the one published before (expired,
// lost in a restart).
func (e *Engine) Connected(deviceID string) {
	e.mu.Lock()
	_, busy := e.byDevice[deviceID]
	e.mu.Unlock()
	if !busy {
		return // most connections: no campaign, and no wait for pubMu
	}
	base := e.cfg.ImageBase()
	now := e.cfg.Now()
	e.pubMu.Lock()
	defer e.pubMu.Unlock()
	e.mu.Lock()
	c := e.byDevice[deviceID]
	var d *dev
	if c != nil {
		d = c.devs[deviceID]
	}
	if d == nil || !d.status.InFlight() || State(c.rec.State) != Running {
		e.mu.Unlock()
		return
	}
	s := e.signed[deviceID]
	if !s.fresh(c, d, now) {
		j := c.pending(base, d)
		e.mu.Unlock()
		e.publish(j)
		return
	}
	e.mu.Unlock()
	if err := e.cfg.Publish(deviceID, s.msg, s.expires); err != nil {
		e.cfg.Log.Warn("job not published again", "device", deviceID, "err", err)
	}
}
