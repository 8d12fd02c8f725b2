package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/internal/proc"
)

// Options configure a simulation run.
type Options struct {
	Devices int
	Dir     string // every device's files and the server's; must exist
	Faults  Faults
	// Update rolls firmware v2 out to every device once they all report:
	// one job per device, or with Campaign a fleet campaign (admin API).
	Update   bool
	Campaign bool
	// Interval is each device's telemetry period (default 30s).
	Interval time.Duration
	// Timeout bounds each phase (default 2 minutes + 10ms per device).
	Timeout time.Duration
	// Workers bounds concurrent manufacturing and job publishing
	// (default 2 × GOMAXPROCS).
	Workers int
	// Progress receives a redrawn status line; nil for none.
	Progress io.Writer
	Seed     uint64
	// Onboarding bounds how many devices enroll and connect at once
	// (default 64 per CPU): a whole fleet powered on in the same second
	// otherwise spends its time in timeouts and retries.
	Onboarding int
	// Join makes this process the devices of a fleet another process
	// serves (RunSharded); Offset numbers its devices. Hold, when set, is
	// called with the report once every device reports, before the
	// devices stop (a device process writes it and waits for its parent).
	Join   *JoinFile
	Offset int
	Hold   func(*Report)
}

// Report is what a run achieved and cost.
type Report struct {
	Devices        int           `json:"devices"`
	Manufactured   int           `json:"manufactured"`
	Onboarded      int           `json:"onboarded"` // enrolled by attestation
	Reporting      int           `json:"reporting"` // at least one telemetry sample acknowledged
	Telemetry      int64         `json:"telemetry_samples"`
	Updated        int           `json:"updated,omitempty"`
	UpdateFailed   int           `json:"update_failed,omitempty"`
	TamperRefused  int           `json:"tampered_refused,omitempty"`
	PowerCutResume int           `json:"power_cut_resumed,omitempty"`
	ClockSkewed    int           `json:"clock_skewed_reporting,omitempty"`
	Manufacture    time.Duration `json:"manufacture_ns"`
	Onboard        time.Duration `json:"onboard_ns"`
	Rollout        time.Duration `json:"rollout_ns,omitempty"`
	// CPU is the process's user+system CPU time during onboarding and
	// rollout (server and devices share the process).
	CPU          time.Duration `json:"cpu_ns"`
	MaxRSSBytes  int64         `json:"max_rss_bytes"`
	HeapBytes    uint64        `json:"heap_bytes"`
	Goroutines   int           `json:"goroutines"`
	BrokerConns  int64         `json:"broker_connections"`
	ServerInProc bool          `json:"server_in_process"`
	Errors       []string      `json:"errors,omitempty"`
	// Campaign counts the campaign's devices by status (with Campaign).
	Campaign map[string]int `json:"campaign,omitempty"`
	// Sharded runs: device processes, their CPU and memory, wall time.
	Processes      int           `json:"processes,omitempty"`
	DeviceCPU      time.Duration `json:"device_cpu_ns,omitempty"`
	DeviceRSSBytes int64         `json:"device_max_rss_bytes_sum,omitempty"`
	Wall           time.Duration `json:"wall_ns,omitempty"`
}

// OK reports whether every device onboarded, reported and, when an update
// ran, ended as expected (tampered images refused, the rest updated).
func (r *Report) OK() bool {
	if r.Onboarded != r.Devices || r.Reporting != r.Devices {
		return false
	}
	return r.UpdateFailed == 0
}

type simDevice struct {
	d       *Device
	agent   atomic.Pointer[agent.Agent]
	skewed  bool
	tamper  bool
	cut     bool
	cutDone atomic.Bool
	resumed atomic.Bool
	// earlier counts the telemetry acknowledged to the device's earlier
	// agent instances: a power cut replaces the agent, and the new one
	// starts counting from zero.
	earlier atomic.Int64
}

// published is the telemetry acknowledged to every agent this device has
// run, so a device that reported before a power cut still counts as
// reporting while its resumed agent reconnects.
func (sd *simDevice) published() int64 {
	n := sd.earlier.Load()
	if a := sd.agent.Load(); a != nil {
		n += a.Published()
	}
	return n
}

// Run manufactures opt.Devices devices, starts a fleet server in-process,
// onboards them all, lets them report, optionally rolls out an update with
// the chosen faults, and reports.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Devices <= 0 {
		return nil, errors.New("sim: devices: want at least 1")
	}
	if opt.Interval <= 0 {
		opt.Interval = 30 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 2*time.Minute + time.Duration(opt.Devices)*10*time.Millisecond
	}
	if opt.Workers <= 0 {
		opt.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.Onboarding <= 0 {
		opt.Onboarding = 64 * runtime.GOMAXPROCS(0)
	}
	rep := &Report{Devices: opt.Devices, ServerInProc: opt.Join == nil}
	var f *Fleet
	var v1, v2 []byte
	var err error
	if opt.Join != nil {
		if opt.Update {
			return nil, errors.New("sim: update: only with the server in this process")
		}
		if f, err = joinFleet(opt.Join); err != nil {
			return nil, err
		}
		v1 = opt.Join.Firmware
	} else {
		if f, err = StartFleet(FleetOptions{Dir: opt.Dir, CertTTL: 7 * 24 * time.Hour}); err != nil {
			return nil, err
		}
		defer f.Close()
		if v1, err = f.SignFirmware("1.0.0", 4096); err != nil {
			return nil, err
		}
		if v2, err = f.SignFirmware("2.0.0", 4500); err != nil {
			return nil, err
		}
		for _, img := range [][]byte{v1, v2} {
			if err := f.RegisterRelease(ctx, img, "sim"); err != nil {
				return nil, err
			}
		}
	}
	prog := newProgress(opt.Progress, opt.Devices)
	defer prog.stop()

	// Factory.
	start := time.Now()
	devs := make([]*simDevice, opt.Devices)
	var mErr error
	var mu sync.Mutex
	parallel(opt.Workers, opt.Devices, func(i int) {
		d, err := Manufacture(filepath.Join(opt.Dir, "devices", fmt.Sprintf("%05d", i)), opt.Offset+i, f, v1)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			mErr = errors.Join(mErr, err)
			return
		}
		devs[i] = &simDevice{d: d, skewed: i < opt.Faults.ClockSkew,
			tamper: opt.Update && i >= opt.Devices-opt.Faults.Tampered,
			cut:    opt.Update && i >= opt.Faults.ClockSkew && i < opt.Faults.ClockSkew+opt.Faults.PowerCuts}
		prog.manufactured.Add(1)
	})
	if mErr != nil {
		return rep, mErr
	}
	rep.Manufactured = opt.Devices
	rep.Manufacture = time.Since(start)
	if err := f.Endorse(ctx, deviceList(devs)); err != nil {
		return rep, err
	}

	// Power on and onboard.
	cpu0 := proc.CPU()
	start = time.Now()
	runCtx, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	flaky := newFlakyDialer(opt.Faults.FlakyNetwork, opt.Seed)
	gate := make(chan struct{}, opt.Onboarding)
	for _, sd := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			live(runCtx, f, sd, opt, flaky, gate)
		}()
	}
	defer func() {
		stopAll()
		wg.Wait()
		for _, sd := range devs {
			sd.d.PowerOff()
		}
	}()
	onboarded := func() bool {
		n, r := 0, 0
		for _, sd := range devs {
			if a := sd.agent.Load(); a != nil {
				if a.DeviceID() != "" {
					n++
				}
				if sd.published() > 0 {
					r++
				}
			}
		}
		prog.onboarded.Store(int64(n))
		prog.reporting.Store(int64(r))
		return r == opt.Devices
	}
	if !poll(ctx, opt.Timeout, onboarded) {
		rep.Errors = append(rep.Errors, "onboarding timed out")
	}
	rep.Onboard = time.Since(start)

	if opt.Update && ctx.Err() == nil {
		start = time.Now()
		good := f.Host("rollout-2.0.0", "v2.bin", "2.0.0", v2)
		bad := append([]byte(nil), v2...)
		bad[len(bad)/2] ^= 1
		tampered := f.Host("rollout-2.0.0", "v2-tampered.bin", "2.0.0", bad)
		jobID := good.ID
		if opt.Campaign {
			jobID = "" // the engine names the job
			tamper := map[string]bool{}
			for _, sd := range devs {
				if a := sd.agent.Load(); a != nil && sd.tamper {
					tamper[a.DeviceID()] = true
				}
			}
			if err := f.StartCampaign(ctx, "sim-rollout", v2, tamper, len(devs)); err != nil {
				return rep, err
			}
		} else {
			var pubErr atomic.Int64
			parallel(opt.Workers, len(devs), func(i int) {
				sd := devs[i]
				a := sd.agent.Load()
				if a == nil || a.DeviceID() == "" {
					return
				}
				j := good
				if sd.tamper {
					j = tampered
				}
				if err := f.PublishJob(ctx, a.DeviceID(), j); err != nil {
					pubErr.Add(1)
				}
			})
			if n := pubErr.Load(); n > 0 {
				rep.Errors = append(rep.Errors, fmt.Sprintf("%d jobs could not be published", n))
			}
		}
		ours := func(last *deviceproto.Outcome) bool { return last != nil && (jobID == "" || last.JobID == jobID) }
		finished := func() bool {
			done := 0
			for _, sd := range devs {
				if a := sd.agent.Load(); a != nil {
					if s := a.State(); ours(s.Last) && s.Update == nil {
						done++
					}
				}
			}
			prog.updated.Store(int64(done))
			return done == len(devs)
		}
		if !poll(ctx, opt.Timeout, finished) {
			rep.Errors = append(rep.Errors, "rollout timed out")
		}
		rep.Rollout = time.Since(start)
		if opt.Campaign {
			// The fleet's verdicts follow the devices' reports: wait for
			// every device to be verified or failed.
			poll(ctx, 20*time.Second, func() bool {
				sum, err := f.CampaignStatus(ctx, "sim-rollout")
				if err != nil {
					return false
				}
				rep.Campaign = map[string]int{}
				for k, v := range sum.Counts {
					rep.Campaign[string(k)] = v
				}
				return rep.Campaign["verified"]+rep.Campaign["failed"]+rep.Campaign["reverted"] >= len(devs)
			})
		}
		for _, sd := range devs {
			a := sd.agent.Load()
			if a == nil {
				rep.UpdateFailed++
				continue
			}
			last := a.State().Last
			switch {
			case !ours(last):
				rep.UpdateFailed++
			case sd.tamper && !last.OK && last.Version == "1.0.0":
				rep.TamperRefused++
			case !sd.tamper && last.OK && last.Version == "2.0.0":
				rep.Updated++
				if sd.cut && sd.resumed.Load() {
					rep.PowerCutResume++
				}
			default:
				rep.UpdateFailed++
				rep.Errors = append(rep.Errors, fmt.Sprintf("device %d: %s", sd.d.Index, last.Error))
			}
		}
	}
	onboarded()
	for _, sd := range devs {
		if a := sd.agent.Load(); a != nil {
			if a.DeviceID() != "" {
				rep.Onboarded++
			}
			if sd.published() > 0 {
				rep.Reporting++
				if sd.skewed {
					rep.ClockSkewed++
				}
			}
			rep.Telemetry += sd.published()
		}
	}
	rep.CPU = proc.CPU() - cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytes = ms.HeapInuse
	rep.Goroutines = runtime.NumGoroutine()
	rep.MaxRSSBytes = proc.MaxRSS()
	if f.Server != nil {
		rep.BrokerConns = f.Server.Broker().Connected()
	}
	if opt.Hold != nil {
		opt.Hold(rep)
	}
	return rep, nil
}

// live runs one device until ctx ends, power-cycling it when a power cut
// is injected.
func live(ctx context.Context, f *Fleet, sd *simDevice, opt Options, flaky *flakyDialer, gate chan struct{}) {
	// Wait for an onboarding slot; give it back once the device has
	// reported (or after a minute, so a stuck device does not hold it).
	select {
	case gate <- struct{}{}:
	case <-ctx.Done():
		return
	}
	var once sync.Once
	release := func() { once.Do(func() { <-gate }) }
	defer release()
	go func() {
		deadline := time.Now().Add(time.Minute)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if a := sd.agent.Load(); a != nil && a.Published() > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		release()
	}()
	for ctx.Err() == nil {
		if sd.d.Platform() == nil {
			if _, err := sd.d.PowerOn(); err != nil {
				return
			}
		}
		actx, cancel := context.WithCancel(ctx)
		hooks := &agent.Hooks{}
		if sd.cut && !sd.cutDone.Load() {
			hooks.AfterPhase = func(p agent.Phase) error {
				if p == agent.PhaseStaged && sd.cutDone.CompareAndSwap(false, true) {
					cancel()
					return ErrPowerCut
				}
				return nil
			}
		}
		o := AgentOptions{Dial: flaky.DialContext, Hooks: hooks, Interval: opt.Interval,
			Backoff: agent.Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second, Attempts: 10}}
		if sd.skewed {
			o.Now = func() time.Time { return time.Now().Add(36 * time.Hour) }
		}
		a, err := sd.d.StartAgent(f, o)
		if err != nil {
			cancel()
			return
		}
		sd.agent.Store(a)
		a.Run(actx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if sd.cutDone.Load() && !sd.resumed.Load() {
			// Power cut: everything stops; on power-on the bootloader
			// runs and the agent resumes from its persisted state.
			sd.earlier.Add(a.Published())
			sd.d.PowerOff()
			sd.resumed.Store(true)
			continue
		}
		return
	}
}

func deviceList(s []*simDevice) []*Device {
	out := make([]*Device, len(s))
	for i, sd := range s {
		out[i] = sd.d
	}
	return out
}

func parallel(workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

func poll(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
