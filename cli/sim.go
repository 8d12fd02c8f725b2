package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"rampart/internal/secfile"
	"rampart/sim"
)

func init() { register("sim", newSimCmd) }

func newSimCmd(env *Env) *cobra.Command {
	var opt sim.Options
	var dir string
	var asJSON, quiet bool
	var procs int
	var serverProc bool
	var cpuProfile, heapProfile string
	var joinPath string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run N simulated devices (own flash, SPE, agent) against an in-process fleet server",
		Long: `sim manufactures N devices (each with its own simulated flash and bootloader, an
in-process SPE provisioned with its own keys, and the same agent as rampart agent),
starts a fleet server in-process on 127.0.0.1, onboards every device by attestation,
lets them publish telemetry over mutual-TLS MQTT, optionally rolls out firmware v2
with injected faults, and reports how many onboarded and reported and what it cost
(CPU and memory of the process, which holds the server and the devices).
With --server-process (and --update --campaign) the server is a rampart server
process of its own and the devices run in --processes device processes that take
the campaign's job over MQTT; the report gives the campaign's time, its phases
and the CPU per device of the server and of the device processes.
Exit 0 when every device onboarded, reported and (with --update) ended as expected.`,
		Example: `  rampart sim --devices 1000
  rampart sim --devices 50 --update --flaky 0.2 --power-cuts 3 --tampered 2 --clock-skew 2
  rampart sim --devices 1000 --update --campaign --tampered 10
  rampart sim --devices 10000 --processes 3 --json
  rampart sim --devices 1000 --processes 4 --update --campaign --server-process --slot-size 1064960 --image-size 1048576`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Devices <= 0 {
				return usageError("--devices: want at least 1")
			}
			if dir == "" {
				d, err := os.MkdirTemp("", "rampart-sim-")
				if err != nil {
					return fail(ExitError, err, "")
				}
				defer os.RemoveAll(d)
				dir = d
			} else if err := secfile.MkdirAll(dir); err != nil { // keys, the CA, the database
				return fail(ExitError, err, "")
			}
			opt.Dir = dir
			if !quiet {
				opt.Progress = env.Stderr
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			if cpuProfile != "" {
				pf, err := secfile.OpenFile(cpuProfile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
				if err != nil {
					return fail(ExitError, err, "")
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return fail(ExitError, err, "")
				}
				defer pprof.StopCPUProfile()
			}
			if heapProfile != "" {
				defer heapOnSignal(heapProfile)()
			}
			var rep *sim.Report
			var err error
			switch {
			case joinPath != "":
				// A device process of a sharded run: report, then wait
				// for the parent to close stdin.
				if opt.Join, err = sim.ReadJoinFile(joinPath); err != nil {
					return fail(ExitUsage, err, "")
				}
				opt.Progress = nil
				opt.Onboarded = func(r *sim.Report) { json.NewEncoder(env.Stdout).Encode(r) }
				opt.Hold = func(r *sim.Report) {
					json.NewEncoder(env.Stdout).Encode(r)
					io.Copy(io.Discard, env.Stdin)
				}
				if _, err = sim.Run(ctx, opt); err != nil {
					return fail(ExitError, err, "")
				}
				return nil
			case serverProc:
				if !opt.Update || !opt.Campaign || opt.Faults.Tampered > 0 {
					return usageError("--server-process: only with --update --campaign, without --tampered")
				}
				exe, xerr := os.Executable()
				if xerr != nil {
					return fail(ExitError, xerr, "")
				}
				rep, err = sim.RunCampaignSharded(ctx, opt, procs, deviceSpawn(ctx, exe, opt, true, profiles{cpuProfile, heapProfile}), func(cfg string) *exec.Cmd {
					return exec.Command(exe, "server", "--config", cfg)
				})
			case procs > 1:
				exe, xerr := os.Executable()
				if xerr != nil {
					return fail(ExitError, xerr, "")
				}
				rep, err = sim.RunSharded(ctx, opt, procs, deviceSpawn(ctx, exe, opt, false, profiles{cpuProfile, heapProfile}))
			default:
				rep, err = sim.Run(ctx, opt)
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fail(ExitError, err, "")
				}
			} else {
				w := env.Stdout
				fmt.Fprintf(w, "devices       %d (manufactured in %v)\n", rep.Devices, rep.Manufacture.Round(1e6))
				fmt.Fprintf(w, "onboarded     %d by attestation\n", rep.Onboarded)
				fmt.Fprintf(w, "reporting     %d (%d telemetry samples acknowledged), all within %v\n", rep.Reporting, rep.Telemetry, rep.Onboard.Round(1e6))
				if opt.Update {
					fmt.Fprintf(w, "updated       %d to 2.0.0 in %v (%d resumed after a power cut); tampered refused %d; failed %d\n",
						rep.Updated, rep.Rollout.Round(1e6), rep.PowerCutResume, rep.TamperRefused, rep.UpdateFailed)
				}
				if rep.Campaign != nil {
					fmt.Fprintf(w, "campaign      %v (the fleet's verdicts)\n", rep.Campaign)
				}
				fmt.Fprintf(w, "clock-skewed  %d reporting\n", rep.ClockSkewed)
				if rep.Phases != nil {
					printCampaignRun(w, rep)
				} else if rep.Processes > 0 {
					fmt.Fprintf(w, "server        CPU %v over %v, max RSS %d MiB, heap %d MiB, %d broker connections\n",
						rep.CPU.Round(1e6), rep.Wall.Round(1e6), rep.MaxRSSBytes>>20, rep.HeapBytes>>20, rep.BrokerConns)
					fmt.Fprintf(w, "devices       in %d processes: CPU %v, max RSS %d MiB (sum)\n", rep.Processes, rep.DeviceCPU.Round(1e6), rep.DeviceRSSBytes>>20)
				} else {
					fmt.Fprintf(w, "process       CPU %v, max RSS %d MiB, heap %d MiB, %d goroutines, %d broker connections (server and devices in one process)\n",
						rep.CPU.Round(1e6), rep.MaxRSSBytes>>20, rep.HeapBytes>>20, rep.Goroutines, rep.BrokerConns)
				}
				for _, e := range rep.Errors {
					fmt.Fprintf(w, "error         %s\n", e)
				}
			}
			if !rep.OK() {
				return failf(ExitFailure, "sim: not every device ended as expected")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opt.Devices, "devices", 0, "number of devices")
	f.StringVar(&dir, "dir", "", "keep device and server files here (default: a temporary directory, removed)")
	f.BoolVar(&opt.Update, "update", false, "roll firmware v2 out to every device after onboarding")
	f.BoolVar(&opt.Campaign, "campaign", false, "with --update: roll out as a fleet campaign (admin API) rather than one job per device")
	f.Float64Var(&opt.Faults.FlakyNetwork, "flaky", 0, "probability that a connection attempt fails (0..1)")
	f.IntVar(&opt.Faults.PowerCuts, "power-cuts", 0, "devices that lose power during their update")
	f.IntVar(&opt.Faults.Tampered, "tampered", 0, "devices that receive a tampered image")
	f.IntVar(&opt.Faults.ClockSkew, "clock-skew", 0, "devices whose clock runs 36 hours fast")
	f.DurationVar(&opt.Interval, "interval", 0, "telemetry period of each device (default 30s)")
	f.DurationVar(&opt.Timeout, "timeout", 0, "bound on each phase (default 2m + 10ms per device)")
	f.DurationVar(&opt.ReconnectMax, "reconnect-max", 0, "cap on each device's wait before a retry or reconnection to another endpoint (default 5s)")
	f.IntVar(&opt.Onboarding, "onboarding", 0, "devices enrolling and connecting at once (default 64 per CPU)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&quiet, "quiet", false, "no progress line")
	f.IntVar(&opt.SlotSize, "slot-size", 0, "each device's update slot in bytes (default 12 KiB; e.g. 1064960 for a 1 MiB image and its trailer)")
	f.IntVar(&opt.ImageSize, "image-size", 0, "the update's firmware size in bytes (default 4500)")
	f.IntVar(&opt.MaxConcurrent, "max-concurrent", 0, "with --campaign: the campaign's max_concurrent (default every device)")
	f.BoolVar(&serverProc, "server-process", false, "with --update --campaign: run the fleet server as a rampart server process of its own, the devices in --processes device processes, and only operate from this one (the campaign's time, phases and CPU per device)")
	f.IntVar(&procs, "processes", 1, "run the devices in this many child processes, the server in this one (each process has its own descriptor limit; CPU and memory are then the server's alone)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write this process's CPU profile here (device processes: FILE.proc<N>)")
	f.StringVar(&heapProfile, "heapprofile", "", "on each SIGUSR1, write this process's live heap profile to FILE.<k> (device processes: FILE.proc<N>.<k>)")
	f.StringVar(&joinPath, "join", "", "internal: be a device process of a sharded run")
	f.IntVar(&opt.Offset, "offset", 0, "internal: first device number")
	f.MarkHidden("join")
	f.MarkHidden("offset")
	return cmd
}

// deviceSpawn starts a device process of a sharded run (rampart sim
// --join) with this run's device options; with campaign it takes the
// campaign the parent starts.
func deviceSpawn(ctx context.Context, exe string, opt sim.Options, campaign bool, prof profiles) sim.Spawn {
	return func(join string, n, off int, d string) *exec.Cmd {
		args := []string{"sim", "--join", join, "--devices", strconv.Itoa(n), "--offset", strconv.Itoa(off),
			"--dir", d, "--onboarding", strconv.Itoa(opt.Onboarding), "--interval", opt.Interval.String(), "--timeout", opt.Timeout.String(), "--flaky", fmt.Sprint(opt.Faults.FlakyNetwork),
			"--reconnect-max", opt.ReconnectMax.String(), "--slot-size", strconv.Itoa(opt.SlotSize)}
		if campaign {
			args = append(args, "--update", "--campaign")
		}
		if prof.cpu != "" {
			args = append(args, "--cpuprofile", fmt.Sprintf("%s.proc%d", prof.cpu, off))
		}
		if prof.heap != "" {
			args = append(args, "--heapprofile", fmt.Sprintf("%s.proc%d", prof.heap, off))
		}
		return exec.CommandContext(ctx, exe, args...)
	}
}

// profiles are the profile files a run's device processes write (empty:
// none).
type profiles struct{ cpu, heap string }

// printCampaignRun prints a sharded campaign run's figures.
func printCampaignRun(w io.Writer, rep *sim.Report) {
	fmt.Fprintf(w, "campaign      %d devices in %v; every device past:", rep.Devices, rep.Rollout.Round(1e6))
	for _, s := range []string{"notified", "downloading", "downloaded", "installing", "rebooted", "verified"} {
		if d, ok := rep.Phases[s]; ok {
			fmt.Fprintf(w, " %s %v", s, d.Round(1e6))
		}
	}
	fmt.Fprintf(w, "\nre-attested   %d after the campaign began; devices' own outcomes: %d updated, %d failed\n", rep.Reattested, rep.Updated, rep.UpdateFailed)
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(rep.Devices) }
	fmt.Fprintf(w, "CPU           server %v (%.2f ms a device), devices %v in %d processes (%.2f ms a device), server max RSS %d MiB\n",
		rep.CPU.Round(1e6), per(rep.CPU), rep.DeviceCPU.Round(1e6), rep.Processes, per(rep.DeviceCPU), rep.MaxRSSBytes>>20)
}
