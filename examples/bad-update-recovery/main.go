// Command bad-update-recovery shows a device surviving a bad update: v2 is
// validly signed and registered, the SPE verifies and installs it, the
// bootloader boots it for a trial, but its self-test fails; the agent
// rejects it, the bootloader reverts to v1 and the device reports the
// failure with a fresh attestation. A fixed v2.0.1 then goes through.
//
// Everything runs in-process: a fleet server on 127.0.0.1, one simulated
// device (flash, bootloader, SPE, agent) in a temporary directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/sim"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bad-update-recovery:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	dir, err := os.MkdirTemp("", "rampart-bad-update-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: dir})
	if err != nil {
		return err
	}
	defer f.Close()
	imgs := map[string][]byte{}
	for i, v := range []string{"1.0.0", "2.0.0", "2.0.1"} {
		if imgs[v], err = f.SignFirmware(v, 4000+100*i); err != nil {
			return err
		}
		if err := f.RegisterRelease(ctx, imgs[v], v); err != nil {
			return err
		}
	}
	d, err := sim.Manufacture(dir+"/device", 0, f, imgs["1.0.0"])
	if err != nil {
		return err
	}
	defer d.PowerOff()
	if err := f.Endorse(ctx, []*sim.Device{d}); err != nil {
		return err
	}
	if _, err := d.PowerOn(); err != nil {
		return err
	}
	// v2.0.0 has a bug: its sensor driver never answers. The self-test
	// is the application's own check in the trial boot.
	selfTest := func(_ context.Context, version string) error {
		if version == "2.0.0" {
			return errors.New("self-test: sensor bus does not answer")
		}
		return nil
	}
	a, err := d.StartAgent(f, sim.AgentOptions{SelfTest: selfTest, Interval: time.Second,
		Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { a.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	if !wait(func() bool { return a.Connected() }) {
		return errors.New("device did not onboard")
	}
	v, _ := a.RunningVersion()
	fmt.Fprintf(out, "device %s onboarded, running %s\n", a.DeviceID(), v)

	for _, step := range []struct {
		version string
		wantOK  bool
		want    string
	}{{"2.0.0", false, "1.0.0"}, {"2.0.1", true, "2.0.1"}} {
		job := f.Host("update-"+step.version, step.version+".bin", step.version, imgs[step.version])
		if err := f.PublishJob(ctx, a.DeviceID(), job); err != nil {
			return err
		}
		var o *deviceproto.Outcome
		if !wait(func() bool {
			s := a.State()
			if s.Last != nil && s.Last.JobID == job.ID && s.Update == nil {
				o = s.Last
				return true
			}
			return false
		}) {
			return fmt.Errorf("job %s did not finish", job.ID)
		}
		fmt.Fprintf(out, "job %s: ok=%v, running %s, fresh attestation %d bytes\n", job.ID, o.OK, o.Version, len(o.Token))
		if o.Error != "" {
			fmt.Fprintf(out, "  reason: %s\n", o.Error)
		}
		if o.OK != step.wantOK || o.Version != step.want {
			return fmt.Errorf("job %s: want ok=%v running %s", job.ID, step.wantOK, step.want)
		}
	}
	fmt.Fprintln(out, "recovered: the bad image was reverted by the bootloader, the fixed one accepted")
	return nil
}

func wait(cond func() bool) bool {
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
