package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rampart/adminapi"
	"rampart/internal/progress"
	"rampart/internal/yamlerr"
)

func init() { register("campaign", newCampaignCmd) }

func newCampaignCmd(env *Env) *cobra.Command {
	o := &fleetOpts{}
	cmd := &cobra.Command{
		Use:   "campaign",
		Short: "Firmware update campaigns: phased rollouts, automatic pause, attested completion",
		Long: `Client of the fleet server's campaign API (docs/campaigns.md).

A campaign sends one uploaded release to the devices a filter selects, phase by phase
(1%, 10%, 50%, 100% or named groups). A device counts as updated only when verified: its
attestation shows the new measurement. Failures past a phase's threshold pause the campaign.

Connection flags and variables are those of 'rampart fleet' (RAMPART_FLEET_URL,
RAMPART_FLEET_TOKEN, RAMPART_FLEET_CA). Creating and controlling needs an operator token,
uploading an admin token.

Exit status: 0 done, 1 refused by the server (or, for status --wait, the campaign did not
complete), 2 usage, 3 the server could not be reached or a file could not be read.`,
		Example: `  rampart campaign upload spe-2.0.0.signed.bin
  rampart campaign create --id spring-2 --release 5f1d... --phases 1,10,50,100 --failure 0.05 --max-concurrent 200
  rampart campaign status spring-2 --watch
  rampart campaign pause spring-2 --reason "support tickets"
  rampart campaign resume spring-2
  rampart campaign list --json`,
		Args: exactArgs(0, "a subcommand (upload, create, list, status, pause, resume, cancel, approve)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.server, "server", "", "admin API base URL (default $RAMPART_FLEET_URL)")
	pf.StringVar(&o.token, "token", "", "API token (default $RAMPART_FLEET_TOKEN)")
	pf.StringVar(&o.caFile, "ca", "", "fleet CA certificate PEM trusted for TLS (default $RAMPART_FLEET_CA)")
	pf.BoolVar(&o.json, "json", false, "print JSON")
	pf.BoolVarP(&o.quiet, "quiet", "q", false, "no progress line on standard error for an upload")
	cmd.AddCommand(newCampaignUploadCmd(env, o), newCampaignCreateCmd(env, o), newCampaignListCmd(env, o), newCampaignStatusCmd(env, o))
	for _, a := range adminapi.CampaignActions {
		cmd.AddCommand(newCampaignControlCmd(env, o, a))
	}
	return cmd
}

func newCampaignUploadCmd(env *Env, o *fleetOpts) *cobra.Command {
	var comment string
	var force bool
	cmd := &cobra.Command{
		Use:     "upload IMAGE",
		Short:   "Upload a signed release image (verified by the server, stored content-addressed)",
		Example: "  rampart campaign upload spe-2.0.0.signed.bin --comment \"spring release\"",
		Args:    exactArgs(1, "a signed image file"),
		RunE: func(_ *cobra.Command, args []string) error {
			return postRelease(env, o, args[0], comment, force)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "free text kept with the release")
	cmd.Flags().BoolVar(&force, "force", false, "accept a security counter lower than an uploaded release's")
	return cmd
}

func newCampaignCreateCmd(env *Env, o *fleetOpts) *cobra.Command {
	var (
		sp               adminapi.CampaignSpec
		specFile, phases string
		groups, states   []string
		window, watch    string
		success, failure float64
		approveEach      bool
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create and start a campaign",
		Example: `  rampart campaign create --id spring-2 --release 5f1d... --phases 1,10,50,100 --failure 0.05
  rampart campaign create --id lab --release 5f1d... --group canary=dev-a,dev-b --group rest=dev-c,dev-d --approve-each
  rampart campaign create --spec campaign.json`,
		Args: exactArgs(0, "no arguments (flags or --spec)"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if specFile != "" {
				b, err := os.ReadFile(specFile)
				if err != nil {
					return fail(ExitError, fmt.Errorf("campaign: --spec: %w", err), "")
				}
				if err := yamlerr.DecodeJSON(specFile, b, &sp); err != nil {
					return fail(ExitFailure, err, "docs/campaigns.md describes the specification")
				}
			} else {
				if sp.ID == "" || sp.Release == "" {
					return usageError("--id and --release are required (or --spec)")
				}
				for _, s := range states {
					sp.Filter.States = append(sp.Filter.States, adminapi.DeviceState(s))
				}
				for _, p := range strings.Split(phases, ",") {
					if len(groups) > 0 {
						break
					}
					v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p), "%"), 64)
					if err != nil {
						return usageError("--phases %q: want percentages like 1,10,50,100", phases)
					}
					sp.Phases = append(sp.Phases, adminapi.CampaignPhase{Percent: v})
				}
				for _, g := range groups {
					name, devs, ok := strings.Cut(g, "=")
					if !ok || devs == "" {
						return usageError("--group %q: want name=dev1,dev2", g)
					}
					sp.Phases = append(sp.Phases, adminapi.CampaignPhase{Name: name, Devices: strings.Split(devs, ",")})
				}
				for i := range sp.Phases {
					sp.Phases[i].SuccessThreshold, sp.Phases[i].FailureThreshold = success, failure
					sp.Phases[i].Approve = approveEach && i > 0
				}
				if watch != "" {
					d, err := time.ParseDuration(watch)
					if err != nil {
						return usageError("--watch-window: %v", err)
					}
					sp.WatchWindow.Duration = d
				}
				if window != "" {
					a, b, ok := strings.Cut(window, "-")
					if !ok {
						return usageError("--window %q: want HH:MM-HH:MM (UTC)", window)
					}
					sp.Window = &adminapi.CampaignWindow{Start: a, End: b}
				}
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			s, err := c.CreateCampaign(context.Background(), sp)
			if err != nil {
				return fleetErr(err)
			}
			if o.json {
				return printJSON(env, s)
			}
			fmt.Fprintf(env.Stdout, "campaign %s: %s, %d devices in %d phases, release %s\n", s.ID, s.State, s.Total, len(s.Phases), s.Version)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&specFile, "spec", "", "campaign specification JSON (docs/campaigns.md) instead of the flags")
	f.StringVar(&sp.ID, "id", "", "campaign ID (also the job ID devices see)")
	f.StringVar(&sp.Release, "release", "", "hex measurement of an uploaded release")
	f.StringVar(&phases, "phases", "100", "cumulative percentages, e.g. 1,10,50,100")
	f.StringArrayVar(&groups, "group", nil, "a named phase name=dev1,dev2 (repeat; replaces --phases)")
	f.Float64Var(&success, "success", 0.9, "share of a phase verified before the next starts")
	f.Float64Var(&failure, "failure", 0.1, "share of failed devices that pauses the campaign")
	f.BoolVar(&approveEach, "approve-each", false, "wait for 'approve' before every phase after the first")
	f.IntVar(&sp.MaxConcurrent, "max-concurrent", 100, "devices notified and not done at once")
	f.StringVar(&watch, "watch-window", "15m", "time a notified device has to be verified")
	f.StringVar(&window, "window", "", "daily maintenance window HH:MM-HH:MM in UTC")
	f.StringArrayVar(&states, "state", nil, "lifecycle state of targets (repeat; default active)")
	f.StringVar(&sp.Filter.Manufacturer, "manufacturer", "", "targets endorsed by this manufacturer")
	f.StringArrayVar(&sp.Filter.Versions, "from-version", nil, "targets last reporting this firmware version (repeat)")
	f.StringArrayVar(&sp.Filter.Devices, "device", nil, "target this device ID (repeat)")
	f.StringVar(&sp.Filter.IDPrefix, "id-prefix", "", "targets whose ID starts with this")
	return cmd
}

func newCampaignListCmd(env *Env, o *fleetOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List campaigns",
		Example: "  rampart campaign list --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			return printList(env, o, c.Campaigns, "ID\tSTATE\tPHASE\tVERSION\tVERIFIED\tFAILED\tTOTAL\tCREATED", func(s adminapi.CampaignSummary) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s", s.ID, s.State, s.PhaseName, s.Version, s.Counts[adminapi.Verified],
					s.Counts[adminapi.Failed]+s.Counts[adminapi.Reverted], s.Total, fmtTime(s.Created))
			})
		},
	}
}

// progressLine is the one-line view the live display redraws. The devices
// in flight are the phases' (the server decides which statuses are).
func progressLine(s *adminapi.CampaignSummary, width int) string {
	done := s.Counts[adminapi.Verified]
	failed := s.Counts[adminapi.Failed] + s.Counts[adminapi.Reverted]
	inflight := 0
	for _, p := range s.Phases {
		inflight += p.InFlight
	}
	bar := ""
	if s.Total > 0 && width > 0 {
		v := done * width / s.Total
		f := failed * width / s.Total
		bar = "[" + strings.Repeat("=", v) + strings.Repeat("x", f) + strings.Repeat(" ", max(0, width-v-f)) + "] "
	}
	return fmt.Sprintf("%s%s %-17s phase %-6s verified %d/%d  failed %d  in flight %d  queued %d",
		bar, s.ID, s.State, s.PhaseName, done, s.Total, failed, inflight, s.Counts[adminapi.Queued])
}

func newCampaignStatusCmd(env *Env, o *fleetOpts) *cobra.Command {
	var watchLive, devices bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a campaign's progress (--watch redraws it until the campaign ends)",
		Example: `  rampart campaign status spring-2
  rampart campaign status spring-2 --watch
  rampart campaign status spring-2 --devices --json`,
		Args: exactArgs(1, "a campaign ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			get := func() (*adminapi.CampaignSummary, error) { return c.Campaign(context.Background(), args[0], devices) }
			s, err := get()
			if err != nil {
				return fleetErr(err)
			}
			if watchLive {
				// A redrawn line on a terminal, a plain line per change
				// otherwise (internal/progress).
				line := progress.NewWith(env.Stdout, progress.Options{Every: every})
				for {
					if s.State == adminapi.CampaignCompleted || s.State == adminapi.CampaignCancelled || s.State == adminapi.CampaignPaused || s.State == adminapi.CampaignAwaiting {
						line.Done(progressLine(s, 30))
						break
					}
					line.Update(progressLine(s, 30))
					time.Sleep(every)
					next, err := get()
					if err != nil {
						line.Done(progressLine(s, 30))
						return fleetErr(err)
					}
					s = next
				}
			}
			if o.json {
				return printJSON(env, s)
			}
			if !watchLive {
				printSummary(env.Stdout, s)
			} else if s.Reason != "" {
				fmt.Fprintf(env.Stdout, "reason: %s\n", s.Reason)
			}
			if watchLive && s.State != adminapi.CampaignCompleted {
				return failf(ExitFailure, "campaign: %s is %s", s.ID, s.State)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&watchLive, "watch", false, "redraw a progress line until the campaign completes, pauses or stops")
	cmd.Flags().DurationVar(&every, "every", time.Second, "refresh period of --watch")
	cmd.Flags().BoolVar(&devices, "devices", false, "list every device's status")
	return cmd
}

func printSummary(w io.Writer, s *adminapi.CampaignSummary) {
	fmt.Fprintf(w, "campaign %s: %s", s.ID, s.State)
	if s.Reason != "" {
		fmt.Fprintf(w, " (%s)", s.Reason)
	}
	fmt.Fprintf(w, "\nrelease %s %s, image sha256 %s\n", s.Version, s.Release, s.Image)
	fmt.Fprintln(w, progressLine(s, 30))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tDEVICES\tVERIFIED\tFAILED\tIN FLIGHT")
	for i, p := range s.Phases {
		mark := ""
		if i == s.Phase {
			mark = " *"
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%d\t%d\t%d\n", p.Name, mark, p.Devices, p.Verified, p.Failed, p.InFlight)
	}
	tw.Flush()
	if len(s.Devices) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tPHASE\tSTATUS\tREASON")
		for _, d := range s.Devices {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", d.ID, d.Phase, d.Status, d.Reason)
		}
		tw.Flush()
	}
}

func newCampaignControlCmd(env *Env, o *fleetOpts, a adminapi.CampaignAction) *cobra.Command {
	var reason string
	short := map[adminapi.CampaignAction]string{
		adminapi.CampaignPause:   "Pause a campaign: no new device is notified",
		adminapi.CampaignResume:  "Resume a paused campaign (its failures so far are acknowledged)",
		adminapi.CampaignCancel:  "Cancel a campaign: queued devices are dropped, unstarted jobs withdrawn",
		adminapi.CampaignApprove: "Approve the phase a campaign waits for",
	}[a]
	cmd := &cobra.Command{
		Use:     string(a) + " ID",
		Short:   short,
		Example: fmt.Sprintf("  rampart campaign %s spring-2 --reason \"change ticket 4711\"", a),
		Args:    exactArgs(1, "a campaign ID"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			s, err := c.ControlCampaign(context.Background(), args[0], a, reason)
			if err != nil {
				return fleetErr(err)
			}
			if o.json {
				return printJSON(env, s)
			}
			fmt.Fprintf(env.Stdout, "campaign %s: %s\n", s.ID, s.State)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (kept in the audit log)")
	return cmd
}
