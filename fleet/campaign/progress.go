package campaign

import (
	"context"
	"encoding/json"

	"rampart/deviceproto"
)

// rank orders the in-flight statuses; progress only moves forward.
var rank = map[Status]int{Queued: 0, Notified: 1, Downloading: 2, Downloaded: 3, Installing: 4, Rebooted: 5}

// fromStatuses are the stored statuses a device may move to st from: the
// rules every node's conditional write checks (flush), so that device
// events and the evaluator's decisions, on any nodes and in any order,
// take each device through one path: one notification, progress only
// forward, one final status (but for a device's revert after it failed).
func fromStatuses(st Status) []string {
	var out []string
	for _, s := range Statuses {
		ok := false
		switch st {
		case Notified:
			ok = s == Queued
		case Downloading, Downloaded, Installing, Rebooted:
			ok = s.InFlight() && rank[s] < rank[st]
		case Verified, Failed:
			ok = s.InFlight()
		case Reverted:
			ok = s.InFlight() || s == Failed
		case Cancelled:
			ok = s == Queued || s == Notified
		}
		if ok {
			out = append(out, string(s))
		}
	}
	return out
}

// isProgress reports whether payload is a progress message (it carries a
// "progress" member) rather than an outcome.
func isProgress(payload []byte) bool {
	var probe struct {
		Progress *string `json:"progress"`
	}
	return json.Unmarshal(payload, &probe) == nil && probe.Progress != nil
}

// progress handles a device's progress message (devices/<id>/progress,
// deviceproto.Progress): installing or rebooted, for the device's current
// campaign, moving its status forward only. It never verifies a device or
// fails one: success needs an attested outcome (Report).
func (e *Engine) progress(deviceID string, payload []byte) {
	p, err := deviceproto.ParseProgress(payload)
	if err != nil {
		e.cfg.Log.Info("progress report refused", "device", deviceID, "err", err)
		return
	}
	st := Installing
	if p.Progress == deviceproto.ProgressRebooted {
		st = Rebooted
	}
	if e.clustered {
		e.refreshDevice(context.Background(), deviceID, p.JobID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.byDevice[deviceID]
	if c == nil || p.JobID != c.rec.ID {
		return
	}
	d := c.devs[deviceID]
	if d == nil || !d.status.InFlight() || rank[d.status] >= rank[st] {
		return
	}
	e.set(c, d, st, "")
}
