package agent

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"time"

	"rampart/deviceproto"
	"rampart/image"
)

var errNoSession = errors.New("agent: no MQTT session")

// ReportOutcome publishes the latest job's outcome (retained) on the
// device's status topic and as telemetry (update_ok, fw_version).
func (a *Agent) ReportOutcome(ctx context.Context) error {
	a.mu.Lock()
	last := a.state.Last
	a.mu.Unlock()
	if last == nil {
		return nil
	}
	b, err := json.Marshal(last)
	if err != nil {
		return err
	}
	if err := a.publish(ctx, deviceproto.StatusTopic(a.DeviceID()), b, true); err != nil {
		return err
	}
	ok := 0.0
	if last.OK {
		ok = 1
	}
	vals := map[string]float64{"update_ok": ok}
	if v, ok := fwVersionValue(last.Version); ok {
		vals["fw_version"] = v
	}
	return a.Publish(ctx, vals)
}

// fwVersionValue is a version as the fw_version metric carries it
// (major*10000 + minor*100 + revision): the form the console's firmware
// views and a campaign's version filter read.
func fwVersionValue(s string) (float64, bool) {
	v, err := image.ParseVersion(s)
	if err != nil {
		return 0, false
	}
	return float64(int(v.Major)*10000 + int(v.Minor)*100 + int(v.Revision)), true
}

// sessionReadings are a session's first readings: the usual ones and the
// running image's version, so that the fleet knows the firmware of a
// device that never took an update (before, fw_version came only with an
// update's outcome).
func (a *Agent) sessionReadings() map[string]float64 {
	r := a.readings()
	running, err := a.RunningVersion()
	if err != nil {
		return r
	}
	v, ok := fwVersionValue(running)
	if !ok {
		return r
	}
	out := make(map[string]float64, len(r)+1)
	maps.Copy(out, r) // r may be the application's own map
	out["fw_version"] = v
	return out
}

// Run is the agent's main loop until ctx ends or a fatal error: enroll (or
// renew), connect, resume an interrupted update, then publish telemetry
// every TelemetryInterval, carry out jobs as they arrive, renew before the
// certificate expires and reconnect after a lost session. Transient errors
// are retried with backoff and jitter.
func (a *Agent) Run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		began := time.Now()
		err := a.session(ctx)
		if time.Since(began) > time.Minute {
			attempt = 0 // a session that lasted was not a failing one
		}
		if ctx.Err() != nil {
			return nil
		}
		if IsFatal(err) {
			return err
		}
		a.sessionLost()
		a.cfg.Log.Info("session ended; retrying", "err", err, "next_endpoint", a.nextEndpoint())
		t := time.NewTimer(a.cfg.Backoff.delay(min(attempt, 16), a.cfg.Rand))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// session runs one connected session; it returns when the session is lost.
func (a *Agent) session(ctx context.Context) error {
	if err := a.finishTransfer(ctx); err != nil {
		return err
	}
	if err := a.EnsureEnrolled(ctx); err != nil {
		return err
	}
	if a.Pending() != nil {
		// An update was interrupted (crash, power cut, lost session):
		// finish it first, connected meanwhile (whileBusy) so that the
		// fleet sees the device during the download and install, not
		// after them.
		if err := a.whileBusy(ctx, func() error { _, err := a.Resume(ctx); return err }); err != nil {
			return err
		}
	}
	if !a.Connected() {
		if err := a.Connect(ctx); err != nil {
			return err
		}
	}
	a.ReportOutcome(ctx)
	a.mu.Lock()
	var lost <-chan struct{} = a.lost
	a.mu.Unlock()
	tick := time.NewTicker(a.cfg.TelemetryInterval)
	defer tick.Stop()
	if err := a.Publish(ctx, a.sessionReadings()); err != nil {
		return err
	}
	for {
		renew := time.NewTimer(max(time.Until(a.renewAt()), time.Second))
		select {
		case <-ctx.Done():
			renew.Stop()
			return ctx.Err()
		case <-lost:
			renew.Stop()
			return errNoSession
		case <-renew.C:
			if err := a.EnsureEnrolled(ctx); err != nil {
				return err
			}
			var err error
			if lost, err = a.reconnectIfRenewed(ctx); err != nil {
				return err
			}
		case <-tick.C:
			renew.Stop()
			if err := a.Publish(ctx, a.readings()); err != nil {
				return err
			}
		case m := <-a.trusts:
			renew.Stop()
			// A refused message was counted (refuse): the session goes on.
			if err := a.followTrust(ctx, m); err != nil && !IsFatal(err) {
				return err
			}
			var err error
			if lost, err = a.reconnectIfRenewed(ctx); err != nil {
				return err
			}
		case m := <-a.transfers:
			renew.Stop()
			if err := a.followTransfer(ctx, m); err != nil && !IsFatal(err) {
				return err
			}
			var err error
			if lost, err = a.reconnectIfRenewed(ctx); err != nil {
				return err
			}
		case j := <-a.jobs:
			renew.Stop()
			var o *deviceproto.Outcome
			err := a.whileBusy(ctx, func() error {
				var err error
				o, err = a.takeJob(ctx, j)
				return err
			})
			if err != nil {
				return err
			}
			// The update's confirmation renewed the certificate by
			// re-attestation, which ended this session: report over a
			// new one now, not after the loss and a retry backoff.
			if lost, err = a.reconnectIfRenewed(ctx); err != nil {
				return err
			}
			if o != nil {
				a.ReportOutcome(ctx)
			}
		}
	}
}

// whileBusy runs op, an update taken or resumed (a download, an install
// and a self-test over HTTPS and the SPE: seconds to minutes without
// reading MQTT), while keeping the MQTT session up: a session lost
// meanwhile (its node died) is opened again in the background at the next
// endpoint, after the retry backoff, as Run would after the loss. Without
// it the devices of a node that died mid-campaign reconnected elsewhere
// only once their updates were done.
func (a *Agent) whileBusy(ctx context.Context, op func() error) error {
	kctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.keepConnected(kctx)
	}()
	err := op()
	stop()
	<-done
	return err
}

// keepConnected reconnects whenever the MQTT session is lost (or not
// open), with the retry backoff, until ctx ends or a fatal error.
func (a *Agent) keepConnected(ctx context.Context) {
	for attempt := 0; ; {
		if a.Connected() {
			a.mu.Lock()
			lost := a.lost
			a.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-lost:
			}
			a.sessionLost()
			a.cfg.Log.Info("session lost during an update; reconnecting meanwhile", "next_endpoint", a.nextEndpoint())
		}
		t := time.NewTimer(a.cfg.Backoff.delay(min(attempt, 16), a.cfg.Rand))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := a.Connect(ctx); err != nil {
			if IsFatal(err) || ctx.Err() != nil {
				return
			}
			attempt++
			continue
		}
		attempt = 0
	}
}
