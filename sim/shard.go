package sim

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"rampart/internal/proc"
	"rampart/internal/secfile"
)

// JoinFile is what a parent run writes for the device processes it
// spawns: where the fleet listens, the CA to trust, the manufacturer key
// (to provision and endorse) and the firmware. It holds a private key: it
// is written 0600 inside the run's directory and removed with it.
type JoinFile struct {
	EnrollURL string `json:"enroll_url"`
	// EnrollFallbacks: the fleet's other enrollment URLs (Fleet).
	EnrollFallbacks []string `json:"enroll_fallbacks,omitempty"`
	MQTTAddr        string   `json:"mqtt_addr"`
	AdminURL        string   `json:"admin_url"`
	CAPEM           []byte   `json:"ca_pem"`
	MfrKeyDER       []byte   `json:"manufacturer_key"` // PKCS#8
	BootKey         []byte   `json:"boot_key"`         // PKIX
	Firmware        []byte   `json:"firmware"`         // signed v1
}

// joinFleet is the device side of a fleet served by another process.
func joinFleet(j *JoinFile) (*Fleet, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(j.CAPEM) {
		return nil, errors.New("sim: join: ca_pem: no certificate")
	}
	k, err := x509.ParsePKCS8PrivateKey(j.MfrKeyDER)
	if err != nil {
		return nil, fmt.Errorf("sim: join: manufacturer_key: %w", err)
	}
	mfr, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("sim: join: manufacturer_key: not ECDSA")
	}
	bk, err := x509.ParsePKIXPublicKey(j.BootKey)
	if err != nil {
		return nil, fmt.Errorf("sim: join: boot_key: %w", err)
	}
	bootKey, ok := bk.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("sim: join: boot_key: not ECDSA")
	}
	var anchors []*x509.Certificate
	for rest := j.CAPEM; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			anchors = append(anchors, c)
		}
	}
	return &Fleet{Mfr: mfr, Rand: rand.Reader, EnrollURL: j.EnrollURL, EnrollFallbacks: j.EnrollFallbacks, MQTTAddr: j.MQTTAddr, AdminURL: j.AdminURL, roots: roots, anchors: anchors, bootKey: bootKey}, nil
}

// Spawn starts a device process: `rampart sim --join FILE --devices N
// --offset K --dir DIR --json`, with its stdin a pipe the parent closes to
// end it.
type Spawn func(joinFile string, devices, offset int, dir string) *exec.Cmd

// RunSharded runs the server in this process and the devices in procs
// child processes (each has its own file-descriptor limit: a device holds
// four descriptors when the server shares its process). The report's CPU
// and memory figures are then the server's alone; the children's are
// summed in DeviceCPU and DeviceRSSBytes.
func RunSharded(ctx context.Context, opt Options, procs int, spawn Spawn) (*Report, error) {
	if procs < 1 || opt.Devices < procs {
		return nil, errors.New("sim: processes: want 1..devices")
	}
	f, err := StartFleet(FleetOptions{Dir: opt.Dir, CertTTL: 7 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	defer f.Close()
	v1, err := f.SignFirmware("1.0.0", 4096)
	if err != nil {
		return nil, err
	}
	if err := f.RegisterRelease(ctx, v1, "sim"); err != nil {
		return nil, err
	}
	cpu0 := proc.CPU()
	start := time.Now()
	rep := &Report{Devices: opt.Devices, ServerInProc: true}
	sh, err := startShards(opt, procs, spawn, f, v1)
	if err != nil {
		return nil, err
	}
	err = sh.collect(rep)
	rep.Processes = procs
	rep.Wall = time.Since(start)
	rep.CPU = proc.CPU() - cpu0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytes = ms.HeapInuse
	rep.MaxRSSBytes = proc.MaxRSS()
	rep.Goroutines = runtime.NumGoroutine()
	rep.BrokerConns = f.Server.Broker().Connected()
	sh.stop()
	return rep, err
}

// shards are the device processes of a sharded run. Each writes one JSON
// report once its devices all report (and, in a campaign run, a second
// once they have all finished their job), then waits for its stdin to
// close.
type shards struct {
	cmds   []*exec.Cmd
	stdins []io.WriteCloser
	outs   []*json.Decoder
}

// startShards writes the join file for the fleet f serves and starts the
// device processes.
func startShards(opt Options, procs int, spawn Spawn, f *Fleet, v1 []byte) (*shards, error) {
	mk, _ := x509.MarshalPKCS8PrivateKey(f.Mfr)
	bk, _ := x509.MarshalPKIXPublicKey(&f.Release.PublicKey)
	var caPEM []byte
	for _, c := range f.Anchors()[:1] {
		caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	jf := JoinFile{EnrollURL: f.EnrollURL, EnrollFallbacks: f.EnrollFallbacks, MQTTAddr: f.MQTTAddr, AdminURL: f.AdminURL,
		CAPEM: caPEM, MfrKeyDER: mk, BootKey: bk, Firmware: v1}
	b, _ := json.Marshal(jf)
	joinPath := filepath.Join(opt.Dir, "join.json")
	if err := secfile.WriteFile(joinPath, b); err != nil { // holds the manufacturer's private key
		return nil, err
	}
	sh := &shards{}
	per := opt.Devices / procs
	for p := range procs {
		n := per
		if p == procs-1 {
			n = opt.Devices - per*(procs-1)
		}
		dir := filepath.Join(opt.Dir, fmt.Sprintf("proc%d", p))
		if err := secfile.MkdirAll(dir); err != nil {
			sh.stop()
			return nil, err
		}
		cmd := spawn(joinPath, n, p*per, dir)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if opt.Progress != nil {
			cmd.Stderr = opt.Progress
		}
		if err := cmd.Start(); err != nil {
			sh.stop()
			return nil, fmt.Errorf("sim: device process %d: %w", p, err)
		}
		sh.cmds, sh.stdins = append(sh.cmds, cmd), append(sh.stdins, in)
		sh.outs = append(sh.outs, json.NewDecoder(bufio.NewReader(out)))
	}
	return sh, nil
}

// next reads every device process's next report, in parallel, and hands
// each to add under one lock.
func (sh *shards) next(add func(r *Report)) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs error
	for p, dec := range sh.outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r Report
			err := dec.Decode(&r)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = errors.Join(errs, fmt.Errorf("sim: device process %d: report: %w", p, err))
				return
			}
			add(&r)
		}()
	}
	wg.Wait()
	return errs
}

// collect sums the device processes' onboarding reports into rep.
func (sh *shards) collect(rep *Report) error {
	return sh.next(func(r *Report) {
		rep.Manufactured += r.Manufactured
		rep.Onboarded += r.Onboarded
		rep.Reporting += r.Reporting
		rep.Telemetry += r.Telemetry
		rep.DeviceCPU += r.CPU
		rep.DeviceRSSBytes += r.MaxRSSBytes
		rep.Manufacture = max(rep.Manufacture, r.Manufacture)
		rep.Onboard = max(rep.Onboard, r.Onboard)
		rep.Errors = append(rep.Errors, r.Errors...)
	})
}

// collectUpdates sums the device processes' final reports of a campaign
// run into rep: how each device's job ended, by its own agent.
func (sh *shards) collectUpdates(rep *Report) error {
	rep.DeviceRSSBytes = 0
	return sh.next(func(r *Report) {
		rep.Updated += r.Updated
		rep.UpdateFailed += r.UpdateFailed
		rep.DeviceRSSBytes += r.MaxRSSBytes
		rep.Errors = append(rep.Errors, r.Errors...)
	})
}

func (sh *shards) pids() []int {
	var out []int
	for _, c := range sh.cmds {
		out = append(out, c.Process.Pid)
	}
	return out
}

// stop closes the device processes' stdin (they exit) and waits for them.
func (sh *shards) stop() {
	for _, in := range sh.stdins {
		in.Close()
	}
	for _, c := range sh.cmds {
		c.Wait()
	}
	sh.stdins, sh.cmds = nil, nil
}

// ReadJoinFile reads a JoinFile written by RunSharded.
func ReadJoinFile(path string) (*JoinFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var j JoinFile
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("sim: join file: %w", err)
	}
	return &j, nil
}
