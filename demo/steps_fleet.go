package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"rampart/adminapi"
	"rampart/agent"
	"rampart/deviceproto"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/sim"
)

// demoDevices is how many devices the fleet part of the demo runs.
const demoDevices = 3

// fleetDemo carries the fleet part's state between its steps.
type fleetDemo struct {
	f       *sim.Fleet
	images  map[string][]byte
	digests map[string]string // release measurements, hex
	devs    []*sim.Device
	agents  []*agent.Agent
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

func fleetSteps() []Step {
	fd := &fleetDemo{images: map[string][]byte{}, digests: map[string]string{}}
	return []Step{
		{"Create a fleet: in-process server (SQLite, 127.0.0.1), CA, manufacturer and release keys", fd.start},
		{"Sign firmware v1.0.0 and v2.0.0 with the release key and upload both to the fleet (admin API)", fd.releases},
		{"Provision 3 devices at the factory: keys generated inside each SPE, endorsements imported", fd.provision},
		{"Boot each device: the bootloader verifies and measures v1 on its simulated flash", fd.boot},
		{"Onboard by attestation: token nonce bound to the server nonce and the CSR key; mTLS MQTT with the key in the SPE", fd.onboard},
		{"Stream telemetry over MQTT (acknowledged = stored)", fd.telemetry},
		{"Roll out v2.0.0 as a fleet campaign: job over MQTT, download, SPE verifies, reboot through the bootloader, self-test, accept; the fleet verifies each device by attestation", fd.rollout},
		{"A tampered v2 image (one byte flipped) is refused by the SPE; the device keeps running v2", fd.tampered},
		{"A downgrade to v1 (validly signed, lower version and security counter) is refused by the agent", fd.downgrade},
		{"Forged jobs put on a device's topic (an unsigned job, another device's genuine job) are refused: the agent acts only on jobs the fleet signed for it", fd.forged},
		{"Decommission a device: the fleet revokes it, it is disconnected and locked out", fd.decommission},
		{"Stop the devices and the fleet server (with --serve: leave them running for the console)", func(s *State) (string, error) {
			if s.opts.Serve != nil {
				return fd.serve(s)
			}
			return fd.stop(s)
		}},
	}
}

func (fd *fleetDemo) need(what string, ok bool) error {
	if !ok {
		return fmt.Errorf("no %s: an earlier step failed", what)
	}
	return nil
}

func (fd *fleetDemo) start(s *State) (string, error) {
	f, err := sim.StartFleet(sim.FleetOptions{Dir: s.opts.Dir, Rand: s.rand})
	if err != nil {
		return "", err
	}
	fd.f = f
	return fmt.Sprintf("enrollment %s, MQTT %s, admin %s\nCA %q; database %s", f.Server.EnrollURL(), f.Server.MQTTAddr(), f.Server.AdminURL(),
		f.Server.CA().Certificate().Subject.CommonName, filepath.Join(s.opts.Dir, "fleet-data", "fleet.db")), nil
}

func (fd *fleetDemo) releases(s *State) (string, error) {
	if err := fd.need("fleet", fd.f != nil); err != nil {
		return "", err
	}
	var lines []string
	c := adminapi.NewClient(fd.f.Server.AdminURL(), sim.AdminToken, fd.f.Roots())
	for _, v := range []string{"1.0.0", "2.0.0"} {
		img, err := fd.f.SignFirmware(v, 4000+len(fd.images)*300)
		if err != nil {
			return "", err
		}
		// Uploaded through the admin API: the server verifies the
		// signature, registers the measurement and keeps the image for
		// campaigns.
		rel, _, err := c.UploadRelease(context.Background(), img, "demo "+v, false)
		if err != nil {
			return "", err
		}
		fd.images[v] = img
		fd.digests[v] = hex.EncodeToString(rel.Digest)
		p, _ := s.write("images/fleet-"+v+".signed.bin", img)
		lines = append(lines, fmt.Sprintf("%s: %d-byte signed image %s, uploaded; measurement %x...", v, len(img), p, rel.Digest[:8]))
	}
	return strings.Join(lines, "\n"), nil
}

func (fd *fleetDemo) provision(s *State) (string, error) {
	if err := fd.need("v1 release", fd.images["1.0.0"] != nil); err != nil {
		return "", err
	}
	var lines []string
	for i := range demoDevices {
		d, err := sim.Manufacture(filepath.Join(s.opts.Dir, "devices", fmt.Sprint(i)), i, fd.f, fd.images["1.0.0"])
		if err != nil {
			return "", err
		}
		fd.devs = append(fd.devs, d)
		lines = append(lines, fmt.Sprintf("device %d: instance ID %x..., signed endorsement %s", i, d.Endorse.InstanceID[:9],
			filepath.Join("devices", fmt.Sprint(i), sim.SignedEndorsementFile)))
	}
	// The fleet imports the files the factory wrote, as they are.
	if err := fd.f.Endorse(context.Background(), fd.devs); err != nil {
		return "", err
	}
	return strings.Join(append(lines, "the factory's COSE_Sign1 files imported as they are; the fleet verified the manufacturer key"), "\n"), nil
}

func (fd *fleetDemo) boot(*State) (string, error) {
	if err := fd.need("devices", len(fd.devs) == demoDevices); err != nil {
		return "", err
	}
	var lines []string
	for i, d := range fd.devs {
		res, err := d.PowerOn()
		if err != nil {
			return "", err
		}
		if res == nil || len(res.Records()) == 0 {
			return "", fmt.Errorf("device %d booted without a boot record", i)
		}
		r := res.Records()[0]
		lines = append(lines, fmt.Sprintf("device %d: booted %s, measurement %x...", i, r.Version, r.MeasurementValue[:8]))
	}
	return strings.Join(lines, "\n"), nil
}

func (fd *fleetDemo) onboard(*State) (string, error) {
	if err := fd.need("booted devices", len(fd.devs) == demoDevices && fd.devs[0].Platform() != nil); err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fd.cancel, fd.done = cancel, make(chan struct{})
	running := make(chan struct{}, demoDevices)
	for _, d := range fd.devs {
		a, err := d.StartAgent(fd.f, sim.AgentOptions{Interval: 100 * time.Millisecond, Backoff: agent.Backoff{Base: 20 * time.Millisecond, Max: 300 * time.Millisecond}})
		if err != nil {
			cancel()
			return "", err
		}
		fd.agents = append(fd.agents, a)
		go func() { a.Run(ctx); running <- struct{}{} }()
	}
	fd.started = true
	go func() {
		for range fd.agents {
			<-running
		}
		close(fd.done)
	}()
	if !waitUntil(10*time.Second, func() bool {
		for _, a := range fd.agents {
			if !a.Connected() {
				return false
			}
		}
		return true
	}) {
		return "", errors.New("not every device onboarded within 10s")
	}
	var lines []string
	for i, a := range fd.agents {
		c := a.Certificate()
		lines = append(lines, fmt.Sprintf("device %d: enrolled as %s, certificate serial %x valid until %s, MQTT connected", i, a.DeviceID(), c.SerialNumber, c.NotAfter.Format(time.RFC3339)))
	}
	return strings.Join(lines, "\n"), nil
}

func (fd *fleetDemo) telemetry(*State) (string, error) {
	if err := fd.need("onboarded devices", len(fd.agents) == demoDevices); err != nil {
		return "", err
	}
	c := adminapi.NewClient(fd.f.Server.AdminURL(), sim.AdminToken, fd.f.Roots())
	ctx := context.Background()
	var lines []string
	for i, a := range fd.agents {
		var pts []adminapi.Point
		if !waitUntil(10*time.Second, func() bool {
			pts, _ = c.Telemetry(ctx, adminapi.TelemetryQuery{Device: a.DeviceID(), Metric: "uptime_s"})
			return len(pts) >= 3
		}) {
			return "", fmt.Errorf("device %d: fewer than 3 samples stored", i)
		}
		lines = append(lines, fmt.Sprintf("device %d: %d samples stored, latest uptime_s=%.2f", i, len(pts), pts[len(pts)-1].Value))
	}
	return strings.Join(lines, "\n"), nil
}

// runJob publishes a job to device i and waits for its outcome.
func (fd *fleetDemo) runJob(i int, job deviceproto.Job) (*deviceproto.Outcome, error) {
	a := fd.agents[i]
	if err := fd.f.PublishJob(context.Background(), a.DeviceID(), job); err != nil {
		return nil, err
	}
	var o *deviceproto.Outcome
	if !waitUntil(15*time.Second, func() bool {
		s := a.State()
		if s.Last != nil && s.Last.JobID == job.ID && s.Update == nil {
			o = s.Last
			return true
		}
		return false
	}) {
		return nil, fmt.Errorf("device %d: job %s did not finish within 15s", i, job.ID)
	}
	return o, nil
}

func (fd *fleetDemo) rollout(*State) (string, error) {
	if err := fd.need("onboarded devices and v2", len(fd.agents) == demoDevices && fd.digests["2.0.0"] != ""); err != nil {
		return "", err
	}
	c := adminapi.NewClient(fd.f.Server.AdminURL(), sim.AdminToken, fd.f.Roots())
	ctx := context.Background()
	spec := adminapi.CampaignSpec{ID: "demo-v2", Release: fd.digests["2.0.0"], Phases: []adminapi.CampaignPhase{{Name: "all", Percent: 100}}}
	if _, err := c.CreateCampaign(ctx, spec); err != nil {
		return "", err
	}
	var sum adminapi.CampaignSummary
	if !waitUntil(20*time.Second, func() bool {
		s, err := c.Campaign(ctx, "demo-v2", false)
		if err != nil {
			return false
		}
		sum = *s
		return sum.Counts[adminapi.Verified] == demoDevices || sum.Counts[adminapi.Failed] > 0 || sum.Counts[adminapi.Reverted] > 0
	}) || sum.Counts[adminapi.Verified] != demoDevices {
		return "", fmt.Errorf("campaign demo-v2: %s, counts %v", sum.State, sum.Counts)
	}
	lines := []string{fmt.Sprintf("campaign demo-v2 (%s): %d of %d devices verified by the fleet", sum.State, sum.Counts[adminapi.Verified], sum.Total)}
	for i, a := range fd.agents {
		o := a.State().Last
		if o == nil || !o.OK || o.Version != "2.0.0" || len(o.Token) == 0 {
			return "", fmt.Errorf("device %d: update outcome %+v", i, o)
		}
		lines = append(lines, fmt.Sprintf("device %d: downloaded, SPE verified, rebooted, self-tested, accepted; running %s; %d-byte attestation in its report", i, o.Version, len(o.Token)))
	}
	return strings.Join(lines, "\n"), nil
}

func (fd *fleetDemo) refused(jobID, name string, img []byte, version string) (string, error) {
	if err := fd.need("updated devices", len(fd.agents) == demoDevices && img != nil); err != nil {
		return "", err
	}
	job := fd.f.Host(jobID, name, version, img)
	o, err := fd.runJob(0, job)
	if err != nil {
		return "", err
	}
	if o.OK || o.Version != "2.0.0" {
		return "", fmt.Errorf("device 0: the bad image was not refused: %+v", o)
	}
	return fmt.Sprintf("refused: %s\ndevice 0 still runs %s", o.Error, o.Version), nil
}

func (fd *fleetDemo) tampered(*State) (string, error) {
	v2 := fd.images["2.0.0"]
	if v2 == nil {
		return fd.refused("", "", nil, "")
	}
	bad := append([]byte(nil), v2...)
	bad[len(bad)/2] ^= 1
	return fd.refused("tampered-v2", "v2-tampered.bin", bad, "2.0.0")
}

func (fd *fleetDemo) downgrade(*State) (string, error) {
	detail, err := fd.refused("downgrade-v1", "v1.bin", fd.images["1.0.0"], "1.0.0")
	if err != nil {
		return "", err
	}
	// Past the agent: v1 handed straight to the SPE's firmware-update
	// service is staged, but the bootloader refuses to boot it.
	l, err := fd.devs[0].Platform().Server.Local(-1)
	if err != nil {
		return "", err
	}
	fw := psaclient.NewFWU(l)
	defer fw.Close()
	fw.Clean(0)
	if err := fw.Start(0); err != nil {
		return "", err
	}
	if err := fw.Write(0, 0, fd.images["1.0.0"]); err != nil {
		return "", err
	}
	stage := "the SPE refused it"
	if err := fw.Finish(0); err == nil {
		if _, err := fw.Install(); err == nil {
			if err := fw.RequestReboot(); err != nil {
				return "", err
			}
			stage = "the bootloader refused it at reboot (downgrade prevention)"
		}
	}
	info, err := fw.Query(0)
	if err != nil {
		return "", err
	}
	if info.Version.Major != 2 || info.State == psa.FWUTrial {
		return "", fmt.Errorf("v1 handed to the SPE directly booted: %+v", info)
	}
	fw.Clean(0)
	return detail + "\nhanded to the SPE directly: " + stage + "; still running " + info.Version.String(), nil
}

// forged delivers two jobs to device 0 through the broker's own client,
// which delivers whatever it is given (so the refusal is the agent's, not
// the broker ACL's): the unsigned job of issue 15's attack, pointing at
// another server, and the fleet's genuine job for device 1.
func (fd *fleetDemo) forged(*State) (string, error) {
	if err := fd.need("updated devices", len(fd.agents) == demoDevices && fd.images["2.0.0"] != nil); err != nil {
		return "", err
	}
	a, other := fd.agents[0], fd.agents[1]
	before, _ := a.RefusedJobs()
	unsigned := fmt.Appendf(nil, `{"id":"evil","version":"9.0.0","url":"https://evil.example/v9.bin","size":4096,"sha256":"%064x"}`, 0)
	genuine, err := fd.f.Server.JobSigner().Sign(other.DeviceID(), fd.f.Host("for-device-1", "v2.bin", "2.0.0", fd.images["2.0.0"]))
	if err != nil {
		return "", err
	}
	var lines []string
	for _, m := range []struct {
		what string
		msg  []byte
		why  error
	}{{"unsigned job to https://evil.example", unsigned, deviceproto.ErrJobEnvelope}, {"device 1's genuine job", genuine, deviceproto.ErrJobDevice}} {
		if err := fd.f.Server.Broker().PublishJob(a.DeviceID(), m.msg, time.Time{}); err != nil {
			return "", err
		}
		before++
		var last error
		if !waitUntil(10*time.Second, func() bool {
			var n int64
			n, last = a.RefusedJobs()
			return n == before && errors.Is(last, m.why)
		}) {
			return "", fmt.Errorf("device 0 did not refuse the %s (last refusal: %v)", m.what, last)
		}
		lines = append(lines, fmt.Sprintf("%s: refused: %v", m.what, last))
	}
	if u := a.Pending(); u != nil {
		return "", fmt.Errorf("device 0 started an update: %+v", u)
	}
	v, err := a.RunningVersion()
	if err != nil || v != "2.0.0" {
		return "", fmt.Errorf("device 0 runs %s (%v)", v, err)
	}
	return strings.Join(lines, "\n") + "\ndevice 0 still runs " + v, nil
}

func (fd *fleetDemo) decommission(*State) (string, error) {
	if err := fd.need("onboarded devices", len(fd.agents) == demoDevices); err != nil {
		return "", err
	}
	i := demoDevices - 1
	a := fd.agents[i]
	id := a.DeviceID()
	c := adminapi.NewClient(fd.f.Server.AdminURL(), sim.AdminToken, fd.f.Roots())
	ctx := context.Background()
	if _, err := c.Transition(ctx, id, adminapi.DeviceDecommission, "demo: end of life"); err != nil {
		return "", err
	}
	if !waitUntil(5*time.Second, func() bool { return !a.Connected() }) {
		return "", errors.New("the decommissioned device is still connected")
	}
	err := a.Enroll(ctx, true)
	if err == nil {
		return "", errors.New("the decommissioned device re-enrolled")
	}
	if err := a.Connect(ctx); err == nil {
		return "", errors.New("the decommissioned device reconnected to MQTT")
	}
	return fmt.Sprintf("device %d (%s) decommissioned by the admin API and disconnected\nre-enrollment refused: %v\nMQTT connection refused", i, id, err), nil
}

func (fd *fleetDemo) stop(*State) (string, error) {
	if fd.cancel != nil {
		fd.cancel()
		<-fd.done
	}
	for _, d := range fd.devs {
		d.PowerOff()
	}
	if fd.f == nil {
		return "", errors.New("no fleet: the first fleet step failed")
	}
	if err := fd.f.Close(); err != nil {
		return "", err
	}
	return "devices powered off, server shut down", nil
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
