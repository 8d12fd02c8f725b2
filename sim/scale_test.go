package sim

// Issue 24, goal 6 (second half): a whole campaign at fleet scale, the
// server in a rampart server process, the devices in device processes.

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	campaignFlag    = flag.Bool("sim.campaign", false, "run TestCampaignAtScale (a whole campaign, server and devices in their own processes)")
	campaignDevices = flag.Int("sim.campaign-devices", 1000, "TestCampaignAtScale: devices (the goal: 10000)")
	campaignProcs   = flag.Int("sim.campaign-processes", 4, "TestCampaignAtScale: device processes")
	campaignImage   = flag.Int("sim.campaign-image", 1<<20, "TestCampaignAtScale: the update's size in bytes")
)

// campaignGoal is the bound on the whole campaign at 10,000
// devices.
const campaignGoal = 60 * time.Second

// TestCampaignAtScale builds rampart, runs a fleet server process and
// -sim.campaign-processes device processes with -sim.campaign-devices
// devices (slots for a 1 MiB image), onboards them, and runs one campaign
// of a 1 MiB image to all of them at once: download, install, reboot,
// self-test, re-attestation, verified. It prints the campaign's time, when
// every device had passed each status, the server's and the devices' CPU
// per device, and the derived time on dedicated cores. It fails unless
// every device is verified by the fleet (an attested outcome over its
// job's challenge) and re-attested, and says so by its own agent; never on
// a time.
func TestCampaignAtScale(t *testing.T) {
	if !*campaignFlag {
		t.Skip("campaign at scale: run with -sim.campaign")
	}
	bin := filepath.Join(t.TempDir(), "rampart")
	if out, err := exec.Command("go", "build", "-o", bin, "rampart/cmd/rampart").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	n := *campaignDevices
	opt := Options{Devices: n, Dir: t.TempDir(), Update: true, Campaign: true, SlotSize: *campaignImage + 16<<10, ImageSize: *campaignImage,
		Timeout: 10 * time.Minute}
	ctx := context.Background()
	spawn := func(join string, devs, off int, dir string) *exec.Cmd {
		return exec.CommandContext(ctx, bin, "sim", "--join", join, "--devices", strconv.Itoa(devs), "--offset", strconv.Itoa(off), "--dir", dir,
			"--timeout", opt.Timeout.String(), "--slot-size", strconv.Itoa(opt.SlotSize), "--update", "--campaign")
	}
	server := func(cfg string) *exec.Cmd { return exec.Command(bin, "server", "--config", cfg) }
	t.Logf("load average before: %s", loadavg())
	rep, err := RunCampaignSharded(ctx, opt, *campaignProcs, spawn, server)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("load average after: %s", loadavg())
	var phases []string
	for _, s := range campaignSteps {
		phases = append(phases, fmt.Sprintf("%s %v", s, rep.Phases[string(s)].Round(time.Millisecond)))
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
	cores := float64(runtime.NumCPU())
	derived := time.Duration(float64(rep.CPU+rep.DeviceCPU) / cores)
	t.Logf("campaign: %d devices, %d KiB image, %d device processes: %v (goal %v at 10,000); every device past: %s",
		n, *campaignImage>>10, rep.Processes, rep.Rollout.Round(time.Millisecond), campaignGoal, strings.Join(phases, ", "))
	t.Logf("CPU over the campaign: server %v = %.2f ms a device; devices %v = %.2f ms a device; together %.2f ms a device",
		rep.CPU.Round(time.Millisecond), per(rep.CPU), rep.DeviceCPU.Round(time.Millisecond), per(rep.DeviceCPU), per(rep.CPU+rep.DeviceCPU))
	t.Logf("derived: on %d dedicated cores, CPU-bound, %v for these %d devices; 10,000 devices need %.0f s of CPU, %.1f cores for %v",
		int(cores), derived.Round(time.Millisecond), n, per(rep.CPU+rep.DeviceCPU)*10, per(rep.CPU+rep.DeviceCPU)*10/campaignGoal.Seconds(), campaignGoal)
	t.Logf("verdicts: %v; re-attested %d; devices' own outcomes: %d updated, %d failed; server max RSS %d MiB, device processes %d MiB (sum)",
		rep.Campaign, rep.Reattested, rep.Updated, rep.UpdateFailed, rep.MaxRSSBytes>>20, rep.DeviceRSSBytes>>20)
	for _, e := range rep.Errors {
		t.Error(e)
	}
	if !rep.OK() {
		t.Fatalf("not every device was verified: %v, re-attested %d of %d, updated %d", rep.Campaign, rep.Reattested, n, rep.Updated)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}
