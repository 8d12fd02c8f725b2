package sim

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"rampart/deviceproto"
)

// rollOut updates every device to firmware 2.0.0 (one job each, or a fleet
// campaign), with the tampered devices sent a corrupted image, waits for
// every device to finish, and counts how each ended.
func (r *run) rollOut(ctx context.Context) error {
	if r.opt.Join != nil {
		return r.awaitCampaign(ctx)
	}
	start := time.Now()
	jobID, err := r.publishRollout(ctx)
	if err != nil {
		return err
	}
	if !poll(ctx, r.opt.Timeout, func() bool { return r.countFinished(jobID) == len(r.devs) }) {
		r.rep.Errors = append(r.rep.Errors, "rollout timed out")
	}
	r.rep.Rollout = time.Since(start)
	if r.opt.Campaign {
		r.awaitCampaignVerdicts(ctx)
	}
	r.tallyUpdates(jobID)
	return nil
}

// awaitCampaign is a device process's part of a campaign run: it tells
// the parent every device reports (Onboarded), then waits until every
// device has finished the job the campaign's engine sends it over MQTT,
// as a real agent gets it, and counts how each ended. The fleet's verdicts
// are the parent's to read.
func (r *run) awaitCampaign(ctx context.Context) error {
	r.tally()
	if r.opt.Onboarded != nil {
		on := *r.rep
		r.opt.Onboarded(&on)
	}
	start := time.Now()
	if !poll(ctx, r.opt.Timeout, func() bool { return r.countFinished("") == len(r.devs) }) {
		r.rep.Errors = append(r.rep.Errors, "campaign jobs timed out")
	}
	r.rep.Rollout = time.Since(start)
	r.tallyUpdates("")
	return nil
}

// publishRollout hosts the image (and its tampered copy) and sends every
// device its job: through a campaign, whose engine names the job (jobID
// is then empty), or one job per device from this process.
func (r *run) publishRollout(ctx context.Context) (jobID string, err error) {
	good := r.f.Host("rollout-2.0.0", "v2.bin", "2.0.0", r.v2)
	bad := append([]byte(nil), r.v2...)
	bad[len(bad)/2] ^= 1
	tampered := r.f.Host("rollout-2.0.0", "v2-tampered.bin", "2.0.0", bad)
	if r.opt.Campaign {
		tamper := map[string]bool{}
		for _, sd := range r.devs {
			if a := sd.agent.Load(); a != nil && sd.tamper {
				tamper[a.DeviceID()] = true
			}
		}
		return "", r.f.StartCampaign(ctx, "sim-rollout", r.v2, tamper, r.opt.MaxConcurrent)
	}
	var pubErr atomic.Int64
	parallel(r.opt.Workers, len(r.devs), func(i int) {
		sd := r.devs[i]
		a := sd.agent.Load()
		if a == nil || a.DeviceID() == "" {
			return
		}
		j := good
		if sd.tamper {
			j = tampered
		}
		if err := r.f.PublishJob(ctx, a.DeviceID(), j); err != nil {
			pubErr.Add(1)
		}
	})
	if n := pubErr.Load(); n > 0 {
		r.rep.Errors = append(r.rep.Errors, fmt.Sprintf("%d jobs could not be published", n))
	}
	return good.ID, nil
}

// ours reports whether last is the outcome of the rollout's job (any job,
// when the campaign engine named it).
func ours(jobID string, last *deviceproto.Outcome) bool {
	return last != nil && (jobID == "" || last.JobID == jobID)
}

// countFinished updates the progress line with, and returns, the devices
// whose rollout job has ended.
func (r *run) countFinished(jobID string) int {
	done := 0
	for _, sd := range r.devs {
		if a := sd.agent.Load(); a != nil {
			if s := a.State(); ours(jobID, s.Last) && s.Update == nil {
				done++
			}
		}
	}
	r.prog.updated.Store(int64(done))
	return done
}

// awaitCampaignVerdicts waits (at most 20 s) for the fleet to judge every
// device of the campaign verified, failed or reverted: its verdicts follow
// the devices' reports.
func (r *run) awaitCampaignVerdicts(ctx context.Context) {
	poll(ctx, 20*time.Second, func() bool {
		sum, err := r.f.CampaignStatus(ctx, "sim-rollout")
		if err != nil {
			return false
		}
		r.rep.Campaign = map[string]int{}
		for k, v := range sum.Counts {
			r.rep.Campaign[string(k)] = v
		}
		return r.rep.Campaign["verified"]+r.rep.Campaign["failed"]+r.rep.Campaign["reverted"] >= len(r.devs)
	})
}

// tallyUpdates counts how each device's rollout ended (verdictOf).
func (r *run) tallyUpdates(jobID string) {
	rep := r.rep
	for _, sd := range r.devs {
		var last *deviceproto.Outcome
		if a := sd.agent.Load(); a != nil {
			last = a.State().Last
		}
		switch verdictOf(jobID, sd.tamper, last) {
		case tamperRefused:
			rep.TamperRefused++
		case updated:
			rep.Updated++
			if sd.cut && sd.resumed.Load() {
				rep.PowerCutResume++
			}
		default:
			rep.UpdateFailed++
			if ours(jobID, last) {
				rep.Errors = append(rep.Errors, fmt.Sprintf("device %d: %s %s", sd.d.Index, last.Result, last.Error))
			}
		}
	}
}

// verdict is how a device's rollout ended, for the report.
type verdict int

const (
	rolloutFailed verdict = iota // no outcome of the job, or not the expected one
	updated                      // ok, running 2.0.0
	tamperRefused                // a tampered image refused before it ran
)

// verdictOf judges a device's last outcome by its result, never its error
// text: a tampered image must have been refused (failed, still on 1.0.0;
// reverted would mean it ran), every other device updated (ok, on 2.0.0).
func verdictOf(jobID string, tamper bool, last *deviceproto.Outcome) verdict {
	switch {
	case !ours(jobID, last):
		return rolloutFailed
	case tamper && last.Result == deviceproto.ResultFailed && last.Version == "1.0.0":
		return tamperRefused
	case !tamper && last.Result == deviceproto.ResultOK && last.Version == "2.0.0":
		return updated
	}
	return rolloutFailed
}
