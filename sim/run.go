package sim

import (
	"cmp"
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
	// ReconnectMax caps each device's wait before a retry or reconnection
	// (default 5s; agent.Backoff.Max).
	ReconnectMax time.Duration
	// SlotSize, when set, is each device's secondary slot in bytes
	// (ManufactureOptions.SlotSize); ImageSize is the update's firmware
	// size (default 4500 bytes, which the default 12 KiB slot holds).
	SlotSize  int
	ImageSize int
	// Onboarded, in a device process of a campaign run (Join with Update
	// and Campaign), receives the report once every device reports; the
	// process then waits for every device's job from the campaign the
	// parent starts, and Hold gets the final report.
	Onboarded func(*Report)
	// MaxConcurrent is the campaign's max_concurrent (default: every
	// device at once).
	MaxConcurrent int
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
	// Campaign runs (RunCampaignSharded): when every device had passed
	// each status, from the campaign's creation, and how many devices the
	// fleet saw re-attest after it.
	Phases     map[string]time.Duration `json:"campaign_phases_ns,omitempty"`
	Reattested int                      `json:"reattested,omitempty"`
}

// OK reports whether every device onboarded, reported and, when an update
// ran, ended as expected (tampered images refused, the rest updated; in a
// campaign run, every device verified by the fleet and re-attested).
func (r *Report) OK() bool {
	if r.Onboarded != r.Devices || r.Reporting != r.Devices {
		return false
	}
	if r.Phases != nil { // a campaign run: every device verified by the fleet, re-attested, and updated by its own account
		return r.Campaign["verified"] == r.Devices && r.Reattested == r.Devices && r.Updated == r.Devices && r.UpdateFailed == 0
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

// Run manufactures opt.Devices devices, starts a fleet server in-process
// (or joins one), onboards them all, lets them report, optionally rolls out
// an update with the chosen faults, and tallies what happened and what it
// cost.
func Run(ctx context.Context, opt Options) (*Report, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &run{opt: opt, rep: &Report{Devices: opt.Devices, ServerInProc: opt.Join == nil}}
	closeFleet, err := r.openFleet(ctx)
	if err != nil {
		return nil, err
	}
	defer closeFleet()
	r.prog = newProgress(opt.Progress, opt.Devices)
	defer r.prog.stop()

	if err := r.manufacture(ctx); err != nil {
		return r.rep, err
	}
	r.cpu0 = proc.CPU()
	powerOff := r.powerOn(ctx)
	defer powerOff()
	r.onboard(ctx)
	if opt.Update && ctx.Err() == nil {
		if err := r.rollOut(ctx); err != nil {
			return r.rep, err
		}
	}
	r.tally()
	if opt.Hold != nil {
		opt.Hold(r.rep)
	}
	return r.rep, nil
}

// run is one simulation: its options, its fleet and devices, and the
// report it fills in phase by phase.
type run struct {
	opt    Options
	f      *Fleet
	v1, v2 []byte // the firmware devices are made with, and the update
	devs   []*simDevice
	prog   *progress
	rep    *Report
	cpu0   time.Duration // the process's CPU when the devices powered on
}

// withDefaults checks opt and fills in its defaults.
func (opt Options) withDefaults() (Options, error) {
	if opt.Devices <= 0 {
		return opt, errors.New("sim: devices: want at least 1")
	}
	if opt.Join != nil && opt.Update && (!opt.Campaign || opt.Faults.Tampered > 0) {
		// A device process takes its job from the campaign of the fleet
		// it joined; tampering needs the server's hook, in this process.
		return opt, errors.New("sim: update: a device process takes only a campaign, without --tampered")
	}
	if opt.ImageSize <= 0 {
		opt.ImageSize = 4500
	}
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = opt.Devices
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
	return opt, nil
}

// openFleet joins the fleet another process serves, or starts one here
// with firmware 1.0.0 and 2.0.0 signed and registered as releases. The
// function it returns closes what it started.
func (r *run) openFleet(ctx context.Context) (closeFleet func(), err error) {
	if r.opt.Join != nil {
		if r.f, err = joinFleet(r.opt.Join); err != nil {
			return nil, err
		}
		r.v1 = r.opt.Join.Firmware
		return func() {}, nil
	}
	if r.f, err = StartFleet(FleetOptions{Dir: r.opt.Dir, CertTTL: 7 * 24 * time.Hour}); err != nil {
		return nil, err
	}
	closeFleet = func() { r.f.Close() }
	if r.v1, err = r.f.SignFirmware("1.0.0", 4096); err != nil {
		closeFleet()
		return nil, err
	}
	if r.v2, err = r.f.SignFirmware("2.0.0", r.opt.ImageSize); err != nil {
		closeFleet()
		return nil, err
	}
	for _, img := range [][]byte{r.v1, r.v2} {
		if err := r.f.RegisterRelease(ctx, img, "sim"); err != nil {
			closeFleet()
			return nil, err
		}
	}
	return closeFleet, nil
}

// manufacture makes every device in the factory (its flash, bootloader,
// SPE and firmware 1.0.0, with its faults assigned) and has the fleet
// import their endorsements.
func (r *run) manufacture(ctx context.Context) error {
	opt := r.opt
	start := time.Now()
	r.devs = make([]*simDevice, opt.Devices)
	var mErr error
	var mu sync.Mutex
	parallel(opt.Workers, opt.Devices, func(i int) {
		d, err := ManufactureWith(filepath.Join(opt.Dir, "devices", fmt.Sprintf("%05d", i)), opt.Offset+i, r.f, r.v1, ManufactureOptions{SlotSize: opt.SlotSize})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			mErr = errors.Join(mErr, err)
			return
		}
		r.devs[i] = &simDevice{d: d, skewed: i < opt.Faults.ClockSkew,
			tamper: opt.Update && i >= opt.Devices-opt.Faults.Tampered,
			cut:    opt.Update && i >= opt.Faults.ClockSkew && i < opt.Faults.ClockSkew+opt.Faults.PowerCuts}
		r.prog.manufactured.Add(1)
	})
	if mErr != nil {
		return mErr
	}
	r.rep.Manufactured = opt.Devices
	r.rep.Manufacture = time.Since(start)
	return r.f.Endorse(ctx, deviceList(r.devs))
}

// powerOn starts every device's life (live) at once; at most
// opt.Onboarding of them onboard at a time. The function it returns stops
// them all and powers them off.
func (r *run) powerOn(ctx context.Context) (powerOff func()) {
	runCtx, stopAll := context.WithCancel(ctx)
	var wg sync.WaitGroup
	flaky := newFlakyDialer(r.opt.Faults.FlakyNetwork, r.opt.Seed)
	gate := make(chan struct{}, r.opt.Onboarding)
	for _, sd := range r.devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			live(runCtx, r.f, sd, r.opt, flaky, gate)
		}()
	}
	return func() {
		stopAll()
		wg.Wait()
		for _, sd := range r.devs {
			sd.d.PowerOff()
		}
	}
}

// onboard waits until every device has enrolled by attestation and had a
// telemetry sample acknowledged, or the phase's timeout.
func (r *run) onboard(ctx context.Context) {
	start := time.Now()
	if !poll(ctx, r.opt.Timeout, r.countReporting) {
		r.rep.Errors = append(r.rep.Errors, "onboarding timed out")
	}
	r.rep.Onboard = time.Since(start)
}

// countReporting updates the progress line with the devices enrolled and
// those reporting, and reports whether all of them report.
func (r *run) countReporting() bool {
	n, reporting := 0, 0
	for _, sd := range r.devs {
		if a := sd.agent.Load(); a != nil {
			if a.DeviceID() != "" {
				n++
			}
			if sd.published() > 0 {
				reporting++
			}
		}
	}
	r.prog.onboarded.Store(int64(n))
	r.prog.reporting.Store(int64(reporting))
	return reporting == r.opt.Devices
}

// tally counts what the devices achieved (onboarded, reporting, samples)
// and what the run cost since the devices powered on (CPU, memory,
// goroutines, connections); a second call counts afresh.
func (r *run) tally() {
	rep := r.rep
	rep.Onboarded, rep.Reporting, rep.ClockSkewed, rep.Telemetry = 0, 0, 0, 0
	r.countReporting()
	for _, sd := range r.devs {
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
	rep.CPU = proc.CPU() - r.cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytes = ms.HeapInuse
	rep.Goroutines = runtime.NumGoroutine()
	rep.MaxRSSBytes = proc.MaxRSS()
	if r.f.Server != nil {
		rep.BrokerConns = r.f.Server.Broker().Connected()
	}
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
			Backoff: agent.Backoff{Base: 100 * time.Millisecond, Max: cmp.Or(opt.ReconnectMax, 5*time.Second), Attempts: 10}}
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
