package campaign_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"rampart/agent"
	"rampart/attest"
	"rampart/fleet/campaign"
	"rampart/image"
	"rampart/sim"
)

var (
	long      = flag.Bool("long", false, "run the large campaign of simulated devices (-devices)")
	longCount = flag.Int("devices", 1000, "devices of the -long campaign")
	longConc  = flag.Int("concurrent", 200, "max_concurrent of the -long campaign")
)

// rig is an in-process fleet server with simulated devices running the
// real agent, and release 2.0.0 uploaded to the campaign engine.
type rig struct {
	f       *sim.Fleet
	devs    []*sim.Device
	agents  []*agent.Agent
	v1, v2  []byte
	release string // hex measurement of 2.0.0
	stop    []func()
}

type devOpts struct {
	// selfTestFails names the devices whose self-test fails; it may be
	// filled in after the rig is built (device IDs are known then).
	selfTestFails *sync.Map
	// holdSelfTest names the devices whose self-test waits, in the trial
	// boot, until the map's channel for them is closed (or the agent
	// stops); filled in like selfTestFails.
	holdSelfTest *sync.Map
	// hooks, when set, are every agent's fault-injection hooks.
	hooks *agent.Hooks
}

func newRig(t *testing.T, n int, o devOpts) *rig {
	t.Helper()
	ctx := context.Background()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &rig{f: f}
	if r.v1, err = f.SignFirmware("1.0.0", 4096); err != nil {
		t.Fatal(err)
	}
	if r.v2, err = f.SignFirmware("2.0.0", 4500); err != nil {
		t.Fatal(err)
	}
	if err := f.RegisterRelease(ctx, r.v1, "factory"); err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, f.Server.Store(), r.v2, []any{&f.Release.PublicKey}, false, "2.0.0", "test")
	if err != nil {
		t.Fatal(err)
	}
	r.release = hex.EncodeToString(rel.Component.MeasurementValue)
	r.devs = make([]*sim.Device, n)
	var mu sync.Mutex
	var firstErr error
	parallelDo(n, func(i int) {
		d, err := sim.Manufacture(t.TempDir(), i, f, r.v1)
		if err == nil {
			_, err = d.PowerOn()
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		r.devs[i] = d
	})
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	t.Cleanup(func() {
		for _, s := range r.stop {
			s()
		}
		for _, d := range r.devs {
			if d != nil {
				d.PowerOff()
			}
		}
	})
	if err := f.Endorse(ctx, r.devs); err != nil {
		t.Fatal(err)
	}
	r.agents = make([]*agent.Agent, n)
	for i, d := range r.devs {
		ao := sim.AgentOptions{Interval: time.Hour, Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 500 * time.Millisecond}, Hooks: o.hooks}
		if o.selfTestFails != nil || o.holdSelfTest != nil {
			ao.SelfTest = func(ctx context.Context, _ string) error {
				if o.holdSelfTest != nil {
					if gate, held := o.holdSelfTest.Load(i); held {
						select {
						case <-gate.(chan struct{}):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
				}
				if o.selfTestFails != nil {
					if _, bad := o.selfTestFails.Load(i); bad {
						return errors.New("injected self-test failure")
					}
				}
				return nil
			}
		}
		a, err := d.StartAgent(f, ao)
		if err != nil {
			t.Fatal(err)
		}
		r.agents[i] = a
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(cctx); close(done) }()
		r.stop = append(r.stop, func() { cancel(); <-done })
	}
	waitFor(t, 60*time.Second, "every agent connected", func() bool {
		return int(f.Server.Broker().Connected()) >= n
	})
	return r
}

func parallelDo(n int, f func(i int)) {
	var wg sync.WaitGroup
	ch := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) engine() *campaign.Engine { return r.f.Server.Campaigns() }

func (r *rig) waitState(t *testing.T, id string, d time.Duration, want ...campaign.State) *campaign.Summary {
	t.Helper()
	var s *campaign.Summary
	waitFor(t, d, fmt.Sprintf("campaign %s in %v", id, want), func() bool {
		var err error
		if s, err = r.engine().Status(id, false); err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if s.State == w {
				return true
			}
		}
		return false
	})
	return s
}

func runComplete(t *testing.T, n int) {
	r := newRig(t, n, devOpts{})
	start := time.Now()
	_, err := r.engine().Create(context.Background(), campaign.Spec{ID: "rollout-2", Release: r.release,
		Phases: []campaign.Phase{{Percent: 10}, {Percent: 50}, {Percent: 100}}, MaxConcurrent: *longConc}, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := r.waitState(t, "rollout-2", 5*time.Minute, campaign.Completed, campaign.Paused)
	if s.State != campaign.Completed || s.Counts[campaign.Verified] != n {
		t.Fatalf("campaign ended %s (%s) with %v, want all %d verified", s.State, s.Reason, s.Counts, n)
	}
	for i, a := range r.agents {
		if v, _ := a.RunningVersion(); v != "2.0.0" {
			t.Fatalf("device %d runs %s", i, v)
		}
	}
	t.Logf("%d devices verified on 2.0.0 in %s", n, time.Since(start).Round(time.Millisecond))
}

// TestCampaignCompletes: every device downloads, installs, reboots,
// re-attests and reports; each is verified only from its attestation.
func TestCampaignCompletes(t *testing.T) { runComplete(t, 12) }

// TestCampaignThousand is the 1,000-device run (-long; -devices N to
// change the count).
func TestCampaignThousand(t *testing.T) {
	if !*long {
		t.Skip("1,000 simulated devices: run with -long")
	}
	runComplete(t, *longCount)
}

// TestFailureThresholdPausesAndResume: 5% of the devices fail their
// self-test and revert; with a 3% threshold the campaign pauses by itself
// before notifying the rest, and each reverted device's attestation shows
// the old measurement. Resume acknowledges the failures and the campaign
// completes.
func TestFailureThresholdPausesAndResume(t *testing.T) {
	n := 40
	var fails, hold sync.Map
	r := newRig(t, n, devOpts{selfTestFails: &fails, holdSelfTest: &hold})
	ctx := context.Background()
	id := "rollout-5pc"
	// The campaign's order is SHA-256(id || 0 || device): fail the devices
	// at positions 4 and 7 (2 of 40 = 5%), so the threshold is crossed
	// while most devices are still queued.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	key := func(i int) string {
		h := sha256.Sum256([]byte(id + "\x00" + r.agents[i].DeviceID()))
		return string(h[:])
	}
	sort.Slice(order, func(a, b int) bool { return key(order[a]) < key(order[b]) })
	failing := map[int]bool{order[4]: true, order[7]: true}
	for i := range failing {
		fails.Store(i, true)
	}
	// The devices after the second failing one hold their self-test until
	// the campaign pauses, so how many are notified by then does not
	// depend on how fast the failing device reverts: at most
	// MaxConcurrent-1 of them (their slots), 11 devices in all.
	gate := make(chan struct{})
	for _, i := range order[8:] {
		hold.Store(i, gate)
	}
	_, err := r.engine().Create(ctx, campaign.Spec{ID: id, Release: r.release,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 0.03}}, MaxConcurrent: 4}, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := r.waitState(t, id, 2*time.Minute, campaign.Paused, campaign.Completed)
	close(gate)
	if s.State != campaign.Paused {
		t.Fatalf("campaign %s with %v, want paused by the failure threshold", s.State, s.Counts)
	}
	if got := s.Counts[campaign.Reverted] + s.Counts[campaign.Failed]; got != 2 {
		t.Fatalf("paused with %d failures (%v), want the threshold: 3%% of %d rounds up to 2", got, s.Counts, n)
	}
	if s.Counts[campaign.Queued] < n-11 {
		t.Fatalf("paused with only %d devices queued (%v), want at least %d: the pause came late", s.Counts[campaign.Queued], s.Counts, n-11)
	}
	t.Logf("paused: %s; counts %v", s.Reason, s.Counts)
	// Paused: nothing more is published.
	queued := s.Counts[campaign.Queued]
	time.Sleep(1500 * time.Millisecond)
	if s, _ = r.engine().Status(id, false); s.Counts[campaign.Queued] != queued {
		t.Fatalf("a paused campaign notified devices: %v", s.Counts)
	}
	full, _ := r.engine().Status(id, true)
	v1sum := measurement(t, &r.f.Release.PublicKey, r.v1)
	for _, d := range full.Devices {
		var i int
		for i = range r.agents {
			if r.agents[i].DeviceID() == d.ID {
				break
			}
		}
		if failing[i] {
			if d.Status != campaign.Reverted {
				t.Fatalf("device %d: %s (%s), want reverted", i, d.Status, d.Reason)
			}
			last := r.agents[i].State().Last
			if last == nil || last.OK || last.Version != "1.0.0" || !tokenShows(t, last.Token, v1sum) {
				t.Fatalf("device %d: outcome %+v does not attest the old image", i, last)
			}
		}
	}
	if _, err := r.engine().Control(ctx, id, campaign.Resume, "test", "failures understood"); err != nil {
		t.Fatal(err)
	}
	s = r.waitState(t, id, 2*time.Minute, campaign.Completed, campaign.Paused)
	if s.State != campaign.Completed || s.Counts[campaign.Verified] != n-2 || s.Counts[campaign.Reverted] != 2 {
		t.Fatalf("%s with %v, want completed with %d verified and 2 reverted", s.State, s.Counts, n-2)
	}
}

// TestTamperedImageRefusedByEveryDevice: the server serves every device an
// image with one flipped byte (and a job whose digest is that of the real
// image): every device refuses it and the campaign reports each failure.
func TestTamperedImageRefusedByEveryDevice(t *testing.T) {
	n := 6
	r := newRig(t, n, devOpts{})
	r.engine().SetTamper(func(_ string, data []byte) []byte {
		bad := append([]byte(nil), data...)
		bad[len(bad)/2] ^= 1
		return bad
	})
	_, err := r.engine().Create(context.Background(), campaign.Spec{ID: "rollout-tampered", Release: r.release,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: n}, "test")
	if err != nil {
		t.Fatal(err)
	}
	// With a 100% threshold the campaign pauses when the last device's
	// failure is recorded (in the same critical section): wait for the
	// state, never for the counts, which run one report ahead of it.
	r.waitState(t, "rollout-tampered", 2*time.Minute, campaign.Paused, campaign.Completed)
	s, err := r.engine().Status("rollout-tampered", true)
	if err != nil {
		t.Fatal(err)
	}
	if s.State != campaign.Paused || s.Counts[campaign.Failed] != n {
		t.Fatalf("state %s with %v, want paused with all %d failed", s.State, s.Counts, n)
	}
	for _, d := range s.Devices {
		if d.Reason == "" {
			t.Fatalf("device %s failed without a reason", d.ID)
		}
	}
	for i, a := range r.agents {
		if v, _ := a.RunningVersion(); v != "1.0.0" {
			t.Fatalf("device %d runs %s after a tampered image", i, v)
		}
	}
	t.Logf("reason of one: %s", s.Devices[0].Reason)
}

func measurement(t *testing.T, pub any, img []byte) []byte {
	t.Helper()
	_, v, err := image.Verify(img, pub)
	if err != nil {
		t.Fatal(err)
	}
	return v.Digest
}

// tokenShows reports whether the token's software components include the
// measurement digest (and not only that: it must parse).
func tokenShows(t *testing.T, token, digest []byte) bool {
	t.Helper()
	tok, err := attest.Parse(token)
	if err != nil {
		t.Fatalf("outcome token: %v", err)
	}
	for _, sc := range tok.Claims.SoftwareComponents {
		if bytes.Equal(sc.MeasurementValue, digest) {
			return true
		}
	}
	return false
}
