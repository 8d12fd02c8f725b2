package console_test

import (
	"context"
	"encoding/hex"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"rampart/agent"
	"rampart/fleet/campaign"
	"rampart/sim"
)

// Tokens of the test fleet besides sim.AdminToken.
const (
	viewerToken   = "console-test-viewer-token"
	operatorToken = "console-test-operator-token"
)

// rig is an in-process fleet server (SQLite, 127.0.0.1) with simulated
// devices running the real agent, publishing telemetry, with releases
// 1.0.0 (running), 2.0.0 and 3.0.0 uploaded.
type rig struct {
	f        *sim.Fleet
	devs     []*sim.Device
	agents   []*agent.Agent
	releases map[string]string // version -> hex measurement
	fails    sync.Map          // device index -> its self-test fails
}

func newRig(t *testing.T, n int) *rig {
	t.Helper()
	ctx := context.Background()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: t.TempDir(), Tokens: []sim.FleetToken{
		{Name: "viewer", Role: "viewer", Token: viewerToken}, {Name: "operator", Role: "operator", Token: operatorToken}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &rig{f: f, releases: map[string]string{}}
	images := map[string][]byte{}
	for i, v := range []string{"1.0.0", "2.0.0", "3.0.0"} {
		if images[v], err = f.SignFirmware(v, 4096+300*i); err != nil {
			t.Fatal(err)
		}
		rel, _, err := campaign.Upload(ctx, f.Server.Store(), images[v], []any{&f.Release.PublicKey}, false, v, "test")
		if err != nil {
			t.Fatal(err)
		}
		r.releases[v] = hex.EncodeToString(rel.Component.MeasurementValue)
	}
	r.devs = make([]*sim.Device, n)
	for i := range n {
		d, err := sim.Manufacture(t.TempDir(), i, f, images["1.0.0"])
		if err == nil {
			_, err = d.PowerOn()
		}
		if err != nil {
			t.Fatal(err)
		}
		r.devs[i] = d
		t.Cleanup(func() { d.PowerOff() })
	}
	if err := f.Endorse(ctx, r.devs); err != nil {
		t.Fatal(err)
	}
	for i, d := range r.devs {
		a, err := d.StartAgent(f, sim.AgentOptions{Interval: 500 * time.Millisecond,
			Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 500 * time.Millisecond},
			Telemetry: func(now time.Time) map[string]float64 {
				s := float64(now.UnixMilli()) / 10000
				return map[string]float64{"temperature": 21 + 3*math.Sin(s+float64(i)), "rssi": -60 - float64(i%7)}
			},
			SelfTest: func(context.Context, string) error {
				if _, bad := r.fails.Load(i); bad {
					return errors.New("injected self-test failure")
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		r.agents = append(r.agents, a)
		cctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(cctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	waitFor(t, 60*time.Second, "every agent connected", func() bool { return int(f.Server.Broker().Connected()) >= n })
	return r
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
