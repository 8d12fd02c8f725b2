package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"rampart/adminapi"
	"rampart/fleet/ca"
	"rampart/internal/proc"
	"rampart/internal/secfile"
)

// ServerSpawn starts `rampart server --config FILE`; RunCampaignSharded
// adds the CA passphrase to its environment.
type ServerSpawn func(config string) *exec.Cmd

// CampaignID is the campaign a sharded campaign run creates.
const CampaignID = "sim-scale"

// campaignSteps are a device's campaign statuses in order; a device in a
// later one has passed the earlier ones.
var campaignSteps = []adminapi.UpdateStatus{"notified", "downloading", "downloaded", "installing", "rebooted", "verified"}

// RunCampaignSharded is a whole campaign at fleet scale with nothing
// shared in memory: the fleet server is a `rampart server` process of its
// own (spawned by server), the devices run in procs device processes
// (spawn; each given --update --campaign by its caller), and this process
// only operates: it registers the releases and creates the campaign
// through the admin API, as an operator would, and watches the fleet's
// verdicts. Each device takes its job over MQTT from the server's
// campaign engine, downloads the image over HTTPS, installs it through
// its SPE, reboots, self-tests, re-enrolls by attestation and reports an
// attested outcome. The report's Rollout is the campaign's time from its
// creation to the last verdict, Phases when every device had passed each
// status, CPU the server's and DeviceCPU the device processes' CPU over
// that time.
func RunCampaignSharded(ctx context.Context, opt Options, procs int, spawn Spawn, server ServerSpawn) (*Report, error) {
	if procs < 1 || opt.Devices < procs {
		return nil, errors.New("sim: processes: want 1..devices")
	}
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	f, srv, err := startServerProcess(ctx, opt.Dir, server)
	if err != nil {
		return nil, err
	}
	defer stopServer(srv)
	v1, err := f.SignFirmware("1.0.0", 4096)
	if err != nil {
		return nil, err
	}
	v2, err := f.SignFirmware("2.0.0", opt.ImageSize)
	if err != nil {
		return nil, err
	}
	if _, _, err := f.admin().UploadRelease(ctx, v1, "sim", false); err != nil {
		return nil, fmt.Errorf("sim: register 1.0.0: %w", err)
	}
	rel, _, err := f.admin().UploadRelease(ctx, v2, "sim", false)
	if err != nil {
		return nil, fmt.Errorf("sim: upload 2.0.0: %w", err)
	}
	sh, err := startShards(opt, procs, spawn, f, v1)
	if err != nil {
		return nil, err
	}
	defer sh.stop()
	rep := &Report{Devices: opt.Devices, Processes: procs}
	if err := sh.collect(rep); err != nil { // every device onboarded and reporting
		return rep, err
	}
	if rep.Reporting != opt.Devices {
		return rep, fmt.Errorf("sim: %d of %d devices report before the campaign", rep.Reporting, opt.Devices)
	}
	pids := append([]int{srv.Process.Pid}, sh.pids()...)
	cpu0 := cpuOf(pids)
	start := time.Now()
	spec := adminapi.CampaignSpec{ID: CampaignID, Release: hex.EncodeToString(rel.Digest), MaxConcurrent: opt.MaxConcurrent,
		Phases: []adminapi.CampaignPhase{{Name: "all", Percent: 100, FailureThreshold: 1}}}
	if _, err := f.admin().CreateCampaign(ctx, spec); err != nil {
		return rep, fmt.Errorf("sim: campaign: create: %w", err)
	}
	rep.Phases = map[string]time.Duration{}
	done := watchCampaign(ctx, f, opt, start, rep)
	rep.Rollout = time.Since(start)
	cpu1 := cpuOf(pids)
	rep.CPU = cpu1[0] - cpu0[0]
	for i := 1; i < len(pids); i++ {
		rep.DeviceCPU += cpu1[i] - cpu0[i]
	}
	if !done {
		rep.Errors = append(rep.Errors, "campaign did not finish within the timeout")
	}
	rep.Reattested = reattested(ctx, f, start)
	err = sh.collectUpdates(rep)
	rep.MaxRSSBytes, _ = rssBytes(srv.Process.Pid)
	return rep, err
}

// watchCampaign polls the campaign's status until every device has a
// verdict (or the timeout), noting when every device had passed each
// status (or failed); it reports whether the campaign finished.
func watchCampaign(ctx context.Context, f *Fleet, opt Options, start time.Time, rep *Report) bool {
	return poll(ctx, opt.Timeout, func() bool {
		sum, err := f.CampaignStatus(ctx, CampaignID)
		if err != nil {
			return false
		}
		rep.Campaign = map[string]int{}
		for k, v := range sum.Counts {
			rep.Campaign[string(k)] = v
		}
		at := time.Since(start)
		// Devices at or beyond the step, from the last back; a device
		// that failed or reverted will pass no further step, so it counts
		// as past every step (the report lists the failures).
		passed := rep.Campaign["failed"] + rep.Campaign["reverted"]
		for i := len(campaignSteps) - 1; i >= 0; i-- {
			s := string(campaignSteps[i])
			passed += rep.Campaign[s]
			if _, seen := rep.Phases[s]; !seen && passed == opt.Devices {
				rep.Phases[s] = at
			}
		}
		return rep.Campaign["verified"]+rep.Campaign["failed"]+rep.Campaign["reverted"] >= opt.Devices
	})
}

// reattested counts the active devices whose last attestation the fleet
// accepted after start: each re-enrolled by attestation in the campaign.
func reattested(ctx context.Context, f *Fleet, start time.Time) int {
	devs, err := f.admin().Devices(ctx, "active")
	if err != nil {
		return 0
	}
	n := 0
	for _, d := range devs {
		if d.LastAttested.After(start) {
			n++
		}
	}
	return n
}

// startServerProcess writes keys and a configuration into dir, starts the
// server process on three free ports and waits until its admin API
// answers. The Fleet it returns holds the keys and addresses, no server.
func startServerProcess(ctx context.Context, dir string, server ServerSpawn) (*Fleet, *exec.Cmd, error) {
	f := &Fleet{Dir: dir, Rand: rand.Reader}
	var err error
	if f.Mfr, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, nil, err
	}
	if f.Release, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, nil, err
	}
	f.bootKey = &f.Release.PublicKey
	for name, k := range map[string]*ecdsa.PrivateKey{"manufacturer.pub.pem": f.Mfr, "release.pub.pem": f.Release} {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err := secfile.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
			return nil, nil, err
		}
	}
	var ports [3]string
	for i := range ports {
		if ports[i], err = freeAddr(); err != nil {
			return nil, nil, err
		}
	}
	cfg := filepath.Join(dir, "server.yaml")
	if err := secfile.WriteFile(cfg, []byte(fleetConfig(7*24*time.Hour, ports, "", ""))); err != nil {
		return nil, nil, err
	}
	pass := make([]byte, 24)
	rand.Read(pass)
	cmd := server(cfg)
	cmd.Env = append(os.Environ(), "RAMPART_CA_PASSPHRASE="+hex.EncodeToString(pass))
	log, err := secfile.OpenFile(filepath.Join(dir, "server.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND)
	if err != nil {
		return nil, nil, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("sim: server process: %w", err)
	}
	f.EnrollURL, f.AdminURL, f.MQTTAddr = "https://"+ports[0], "https://"+ports[1], ports[2]
	if err := awaitServer(ctx, f, filepath.Join(dir, "fleet-data", ca.CertFile)); err != nil {
		stopServer(cmd)
		return nil, nil, err
	}
	return f, cmd, nil
}

// awaitServer waits (at most a minute) for the server's CA certificate and
// then for its admin API to answer.
func awaitServer(ctx context.Context, f *Fleet, caFile string) error {
	ok := poll(ctx, time.Minute, func() bool {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return false
		}
		if f.roots == nil {
			f.roots = x509.NewCertPool()
			if !f.roots.AppendCertsFromPEM(b) {
				f.roots = nil
				return false
			}
			blk, _ := pem.Decode(b)
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return false
			}
			f.anchors = []*x509.Certificate{c}
		}
		_, err = f.admin().Releases(ctx)
		return err == nil
	})
	if !ok {
		return fmt.Errorf("sim: the server process did not answer within a minute (its log: %s)", filepath.Join(f.Dir, "server.log"))
	}
	return nil
}

// stopServer ends the server process as an operator would (SIGTERM: it
// drains), killing it after 30 s.
func stopServer(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// freeAddr is a free TCP address on 127.0.0.1 (closed again at once: the
// server binds it a moment later).
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// cpuOf is each process's CPU so far (zero for one that has gone).
func cpuOf(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, p := range pids {
		if t, err := proc.CPUTicks(p); err == nil {
			out[i] = time.Duration(t) * proc.ClockTick
		}
	}
	return out
}

func rssBytes(pid int) (int64, error) {
	kb, err := proc.RSSKB(pid)
	return kb << 10, err
}
