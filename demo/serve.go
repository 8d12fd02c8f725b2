package demo

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"rampart/agent"
	"rampart/sim"
)

// serveDevices is how many more devices `demo --serve` starts, so the
// console has a fleet to show.
const serveDevices = 12

// ConsoleInfo is what `demo --serve` prints: where the console is and
// what to sign in with.
type ConsoleInfo struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// serve leaves the fleet running for the console (Options.Serve): more
// simulated devices enroll and report telemetry until the run's context
// ends; the fleet is stopped then.
func (fd *fleetDemo) serve(s *State) (string, error) {
	if err := fd.need("fleet", fd.f != nil && fd.cancel != nil); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var extra []*sim.Device
	done := make(chan struct{}, serveDevices)
	stopExtra := func() {
		cancel()
		for range extra {
			<-done
		}
		for _, d := range extra {
			d.PowerOff()
		}
	}
	for i := range serveDevices {
		d, err := sim.Manufacture(filepath.Join(s.opts.Dir, "devices", fmt.Sprint(demoDevices+i)), demoDevices+i, fd.f, fd.images["1.0.0"])
		if err != nil {
			stopExtra()
			return "", err
		}
		if _, err := d.PowerOn(); err != nil {
			stopExtra()
			return "", err
		}
		extra = append(extra, d)
	}
	if err := fd.f.Endorse(context.Background(), extra); err != nil {
		stopExtra()
		return "", err
	}
	for i, d := range extra {
		a, err := d.StartAgent(fd.f, sim.AgentOptions{Interval: 2 * time.Second, Backoff: agent.Backoff{Base: 50 * time.Millisecond, Max: 2 * time.Second},
			Telemetry: func(now time.Time) map[string]float64 {
				t := float64(now.UnixMilli()) / 60000
				return map[string]float64{"temperature": 21 + 4*math.Sin(t+float64(i)), "battery": 100 - math.Mod(t*2+float64(i*7), 100), "rssi": -55 - float64((i*13)%30)}
			}})
		if err != nil {
			extra = extra[:i]
			stopExtra()
			return "", err
		}
		go func() { a.Run(ctx); done <- struct{}{} }()
	}
	s.served = &ConsoleInfo{URL: fd.f.AdminURL + "/ui/", Token: sim.AdminToken}
	s.stopServed = func() {
		stopExtra()
		fd.stop(s)
	}
	return fmt.Sprintf("%d more devices enroll and report telemetry every 2 s; the fleet runs until interrupted", serveDevices), nil
}
