package agent

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"

	"rampart/deviceproto"
	"rampart/image"
	"rampart/psa"
)

// component is the image the agent updates: the bootloader's image 0.
const component psa.FWUComponent = 0

// MaxAttempts bounds how many times one job is started or resumed.
const MaxAttempts = 8

// writeBlock is the size of each FWU write.
const writeBlock = 16 << 10

// RunningVersion is the version of the active image, as the SPE reports it.
func (a *Agent) RunningVersion() (string, error) {
	info, err := a.fwu.Query(component)
	if err != nil {
		return "", fmt.Errorf("agent: fwu: query: %w", err)
	}
	return versionString(info.Version), nil
}

func versionString(v psa.FWUImageVersion) string {
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

func sameVersion(v psa.FWUImageVersion, s string) bool {
	p, err := image.ParseVersion(s)
	return err == nil && p.Major == v.Major && p.Minor == v.Minor && p.Revision == v.Patch
}

// takeJob carries out a verified firmware-update job, or resumes the one
// in progress (a job is taken only when none is). It returns the outcome
// once the job has ended, successfully or not; an error means the job has
// not ended (transient trouble, or ctx ended) and will resume later. A job
// that became a replay while it was queued is dropped (nil, nil).
func (a *Agent) takeJob(ctx context.Context, m jobMsg) (*deviceproto.Outcome, error) {
	j := m.job
	a.mu.Lock()
	if err := a.replayLocked(j); err != nil { // a newer job was taken since this one was queued
		a.mu.Unlock()
		a.refuse(err)
		return nil, nil
	}
	if a.state.Last != nil && a.state.Last.JobID == j.ID && a.state.Update == nil {
		o := *a.state.Last
		a.mu.Unlock()
		return &o, nil
	}
	if a.state.Update == nil {
		a.mu.Unlock()
		from, err := a.RunningVersion()
		if err != nil {
			return nil, err
		}
		a.mu.Lock()
		a.state.Update = &Update{Job: j, Phase: PhaseDownloading, From: from, Mirrors: m.mirrors}
		a.state.Taken = &TakenJob{ID: j.ID, Issued: j.Issued}
		if older(j.Version, from) {
			// Defence in depth: the SPE and bootloader must refuse a
			// lower security counter too; the agent does not ask them to.
			a.mu.Unlock()
			return a.finish(ctx, deviceproto.ResultFailed, fatal(fmt.Errorf("agent: job %s: downgrade from %s to %s refused", j.ID, from, j.Version)))
		}
		if err := a.saveLocked(); err != nil {
			a.mu.Unlock()
			return nil, err
		}
	}
	a.mu.Unlock()
	return a.Resume(ctx)
}

// Pending returns the update in progress, if any.
func (a *Agent) Pending() *Update {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state.Update == nil {
		return nil
	}
	u := *a.state.Update
	return &u
}

func (a *Agent) setPhase(p Phase) error {
	a.mu.Lock()
	a.state.Update.Phase = p
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	a.cfg.Log.Info("update phase", "phase", p)
	if h := a.cfg.Hooks.AfterPhase; h != nil {
		return h(p)
	}
	return nil
}

// Resume continues the persisted update from its phase. It returns nil,
// nil when there is none.
func (a *Agent) Resume(ctx context.Context) (*deviceproto.Outcome, error) {
	u := a.Pending()
	if u == nil {
		return nil, nil
	}
	j := u.Job
	// Count the runs of this job, so that an update that crashes the
	// agent every time at the same point ends instead of looping.
	a.mu.Lock()
	a.state.Update.Attempts++
	attempts := a.state.Update.Attempts
	err := a.saveLocked()
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if attempts > MaxAttempts {
		result := deviceproto.ResultFailed
		if info, qerr := a.fwu.Query(component); qerr == nil && info.State == psa.FWUTrial {
			a.fwu.Reject(-1)
			a.fwu.RequestReboot()
			result = deviceproto.ResultReverted
		}
		return a.finish(ctx, result, fatal(fmt.Errorf("agent: job %s: gave up after %d attempts", j.ID, MaxAttempts)))
	}
	if h := a.cfg.Hooks.Resume; h != nil {
		if err := h(u.Phase); err != nil {
			return nil, err
		}
	}
	for {
		u = a.Pending()
		switch u.Phase {
		case PhaseDownloading:
			err := retry(ctx, a.cfg.Backoff, a.cfg.Rand, "download", func() error {
				_, err := a.download(ctx, j, u.Mirrors)
				return err
			})
			if IsFatal(err) {
				return a.finish(ctx, deviceproto.ResultFailed, err)
			}
			if err != nil {
				return nil, err
			}
			if err := a.setPhase(PhaseDownloaded); err != nil {
				return nil, err
			}
		case PhaseDownloaded:
			a.reportProgress(ctx, j.ID, deviceproto.ProgressInstalling)
			if err := a.stage(j); err != nil {
				if IsFatal(err) {
					return a.finish(ctx, deviceproto.ResultFailed, err)
				}
				return nil, err
			}
			if err := a.setPhase(PhaseStaged); err != nil {
				return nil, err
			}
		case PhaseStaged:
			info, err := a.fwu.Query(component)
			if err != nil {
				return nil, fmt.Errorf("agent: fwu: %w", err)
			}
			if info.State == psa.FWUStaged {
				// Reboot through the bootloader: it swaps the image in for a test boot.
				if err := a.fwu.RequestReboot(); err != nil {
					return nil, fmt.Errorf("agent: reboot: %w", err)
				}
				if info, err = a.fwu.Query(component); err != nil {
					return nil, fmt.Errorf("agent: fwu: %w", err)
				}
			}
			if info.State != psa.FWUTrial && !installed(info, j) {
				return a.finish(ctx, deviceproto.ResultFailed, fatal(fmt.Errorf("agent: update: the bootloader did not boot %s (state %s, running %s)", j.Version, info.State, versionString(info.Version))))
			}
			// In its trial (swap), or already permanent (an overwrite-only
			// bootloader, which cannot test): either way the new image runs
			// and must pass the same attested confirmation.
			if err := a.setPhase(PhaseTrial); err != nil {
				return nil, err
			}
		case PhaseTrial:
			return a.confirm(ctx, j)
		default:
			return nil, fatal(fmt.Errorf("agent: state: update phase %q", u.Phase))
		}
	}
}

// installed reports whether the job's image runs outside a trial: the
// bootloader made it permanent without a test (overwrite-only), or the
// agent accepted it before a crash.
func installed(info psa.FWUComponentInfo, j deviceproto.Job) bool {
	return info.State != psa.FWUTrial && info.State != psa.FWURejected && sameVersion(info.Version, j.Version)
}

// confirm is the trial boot, on every update mode: the new image must pass
// the attested confirmation (selfTest: re-enrollment by attestation, then
// the application's self-test) before the job ends well. In a trial a
// failure rejects the image and the bootloader reverts it; an image the
// bootloader already made permanent (overwrite-only) cannot be reverted,
// and its failure is reported as such.
func (a *Agent) confirm(ctx context.Context, j deviceproto.Job) (*deviceproto.Outcome, error) {
	info, err := a.fwu.Query(component)
	if err != nil {
		return nil, fmt.Errorf("agent: fwu: %w", err)
	}
	trial := info.State == psa.FWUTrial
	if !trial && !installed(info, j) {
		return a.finish(ctx, deviceproto.ResultReverted, fatal(fmt.Errorf("agent: update: trial of %s ended unconfirmed; the bootloader reverted to %s", j.Version, versionString(info.Version))))
	}
	a.reportProgress(ctx, j.ID, deviceproto.ProgressRebooted)
	if err := a.selfTest(ctx, j); err != nil {
		if !IsFatal(err) && ctx.Err() != nil {
			return nil, err // stopped, not failed: the confirmation runs again
		}
		if !trial {
			return a.finish(ctx, deviceproto.ResultFailed, fatal(fmt.Errorf("agent: confirmation of %s failed and the bootloader installed it for good (no trial: it cannot be reverted): %w", j.Version, err)))
		}
		if _, rerr := a.fwu.Reject(-1); rerr != nil {
			return nil, fmt.Errorf("agent: fwu: reject: %w", rerr)
		}
		if rerr := a.fwu.RequestReboot(); rerr != nil {
			return nil, fmt.Errorf("agent: reboot after reject: %w", rerr)
		}
		return a.finish(ctx, deviceproto.ResultReverted, fatal(fmt.Errorf("agent: self-test of %s failed, reverted: %w", j.Version, err)))
	}
	if trial {
		if err := a.fwu.Accept(); err != nil {
			return nil, fmt.Errorf("agent: fwu: accept: %w", err)
		}
	}
	return a.finish(ctx, deviceproto.ResultOK, nil)
}

// stage hands the downloaded image to the SPE's FWU service, which
// verifies it (signature, key, security counter) before it can be installed.
func (a *Agent) stage(j deviceproto.Job) error {
	// The image goes to the SPE a block at a time from the file, not read
	// whole first: a megabyte held per device while the SPE works through
	// it (a simulator process stages thousands at once).
	f, err := os.Open(filepath.Join(a.cfg.Dir, DownloadFile))
	if err != nil {
		return fmt.Errorf("agent: stage: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("agent: stage: %w", err)
	}
	size := fi.Size()
	info, err := a.fwu.Query(component)
	if err != nil {
		return fmt.Errorf("agent: fwu: %w", err)
	}
	switch info.State {
	case psa.FWUReady:
	case psa.FWUWriting, psa.FWUCandidate:
		if err := a.fwu.Cancel(component); err != nil {
			return fmt.Errorf("agent: fwu: cancel: %w", err)
		}
		fallthrough
	case psa.FWUFailed, psa.FWUUpdated, psa.FWURejected:
		if err := a.fwu.Clean(component); err != nil {
			return fmt.Errorf("agent: fwu: clean: %w", err)
		}
	case psa.FWUStaged, psa.FWUTrial:
		return nil // a previous run got this far before the power cut
	default:
		return fmt.Errorf("agent: fwu: component in state %s", info.State)
	}
	if size > int64(info.MaxSize) && info.MaxSize > 0 || size > math.MaxUint32 {
		return fatal(fmt.Errorf("agent: stage: image of %d bytes, the slot takes %d", size, info.MaxSize))
	}
	if err := a.fwu.Start(component); err != nil {
		return fmt.Errorf("agent: fwu: start: %w", err)
	}
	block := make([]byte, writeBlock)
	for off := int64(0); off < size; off += writeBlock {
		b := block[:min(writeBlock, size-off)]
		if _, err := f.ReadAt(b, off); err != nil {
			return fmt.Errorf("agent: stage: %w", err)
		}
		if err := a.fwu.Write(component, uint32(off), b); err != nil {
			return fmt.Errorf("agent: fwu: write at %d: %w", off, err)
		}
	}
	if err := a.fwu.Finish(component); err != nil {
		// The SPE refused the image: a bad signature, an unknown key or a
		// downgrade. Retrying will not change its mind.
		a.fwu.Clean(component)
		return fatal(fmt.Errorf("agent: the SPE refused %s: %w", j.Version, err))
	}
	if _, err := a.fwu.Install(); err != nil {
		a.fwu.Clean(component)
		return fatal(fmt.Errorf("agent: fwu: install %s: %w", j.Version, err))
	}
	return nil
}

// selfTest checks the trial image: the fleet must accept a fresh
// attestation of it (re-enrollment checks every measurement against the
// registered releases), then the configured application test runs.
//
// The re-attestation goes to the enrollment endpoint and, after a
// transient failure, to the next of the job's download endpoints in turn
// (mirrors: the fleet's other nodes, certified by the job's signer, whose
// listener serves enrollment as well as images): a device whose
// enrollment node died during its update still confirms it.
func (a *Agent) selfTest(ctx context.Context, j deviceproto.Job) error {
	urls := a.enrollURLs()
	enrollURL := urls[0]
	if u := a.Pending(); u != nil {
		own := ""
		if e, err := url.Parse(enrollURL); err == nil {
			own = deviceproto.Endpoint(e)
		}
		for _, m := range u.Mirrors {
			if m != own && !slices.Contains(urls, "https://"+m) {
				urls = append(urls, "https://"+m)
			}
		}
	}
	n := 0
	err := retry(ctx, a.cfg.Backoff, a.cfg.Rand, "re-attest", func() error {
		u := urls[n%len(urls)]
		n++
		return a.enrollAt(ctx, u, true)
	})
	if err != nil {
		return err
	}
	if a.cfg.SelfTest != nil {
		if err := a.cfg.SelfTest(ctx, j.Version); err != nil {
			return fatal(err)
		}
	}
	return nil
}

// finish ends the job: records the outcome with a fresh attestation token
// over the job's nonce (the fleet's challenge; a random one for a job an
// older agent took, which had none), clears the update and removes the
// download.
func (a *Agent) finish(ctx context.Context, result deviceproto.Result, cause error) (*deviceproto.Outcome, error) {
	u := a.Pending()
	o := &deviceproto.Outcome{JobID: u.Job.ID, OK: result == deviceproto.ResultOK, Result: result}
	if cause != nil {
		o.Error = cause.Error()
	}
	if v, err := a.RunningVersion(); err == nil {
		o.Version = v
	}
	nonce := u.Job.Nonce
	if len(nonce) == 0 {
		nonce = make([]byte, 32)
		if _, err := io.ReadFull(a.cfg.Rand, nonce); err != nil {
			nonce = nil
		}
	}
	if nonce != nil {
		if tok, err := a.Attest(ctx, nonce); err == nil {
			o.Token = tok
		}
	}
	a.mu.Lock()
	a.state.Update = nil
	a.state.Last = o
	err := a.saveLocked()
	a.mu.Unlock()
	os.Remove(filepath.Join(a.cfg.Dir, DownloadFile))
	if err != nil {
		return nil, err
	}
	a.cfg.Log.Info("update finished", "job", o.JobID, "result", result, "version", o.Version, "err", o.Error)
	return o, nil
}

// older reports whether version a is lower than version b.
func older(a, b string) bool {
	va, err1 := image.ParseVersion(a)
	vb, err2 := image.ParseVersion(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if va.Major != vb.Major {
		return va.Major < vb.Major
	}
	if va.Minor != vb.Minor {
		return va.Minor < vb.Minor
	}
	return va.Revision < vb.Revision
}
