package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rampart/fleet/campaign"
	"rampart/fleet/store"
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
	cmd.AddCommand(newCampaignUploadCmd(env, o), newCampaignCreateCmd(env, o), newCampaignListCmd(env, o), newCampaignStatusCmd(env, o))
	for _, a := range []campaign.Action{campaign.Pause, campaign.Resume, campaign.Cancel, campaign.Approve} {
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
		sp               campaign.Spec
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
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&sp); err != nil {
					return usageError("--spec %s: %v", specFile, err)
				}
			} else {
				if sp.ID == "" || sp.Release == "" {
					return usageError("--id and --release are required (or --spec)")
				}
				for _, s := range states {
					sp.Filter.States = append(sp.Filter.States, store.State(s))
				}
				for _, p := range strings.Split(phases, ",") {
					if len(groups) > 0 {
						break
					}
					v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p), "%"), 64)
					if err != nil {
						return usageError("--phases %q: want percentages like 1,10,50,100", phases)
					}
					sp.Phases = append(sp.Phases, campaign.Phase{Percent: v})
				}
				for _, g := range groups {
					name, devs, ok := strings.Cut(g, "=")
					if !ok || devs == "" {
						return usageError("--group %q: want name=dev1,dev2", g)
					}
					sp.Phases = append(sp.Phases, campaign.Phase{Name: name, Devices: strings.Split(devs, ",")})
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
					sp.Window = &campaign.Window{Start: a, End: b}
				}
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			body, _ := json.Marshal(sp)
			var s campaign.Summary
			if err := c.Post(context.Background(), "/api/v1/campaigns", nil, bytes.NewReader(body), "application/json", &s); err != nil {
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
			return printList(env, o, c, "/api/v1/campaigns", nil, "ID\tSTATE\tPHASE\tVERSION\tVERIFIED\tFAILED\tTOTAL\tCREATED", func(s campaign.Summary) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s", s.ID, s.State, s.PhaseName, s.Version, s.Counts[campaign.Verified],
					s.Counts[campaign.Failed]+s.Counts[campaign.Reverted], s.Total, fmtTime(s.Created))
			})
		},
	}
}

// progressLine is the one-line view the live display redraws.
func progressLine(s *campaign.Summary, width int) string {
	done := s.Counts[campaign.Verified]
	failed := s.Counts[campaign.Failed] + s.Counts[campaign.Reverted]
	inflight := 0
	for st, n := range s.Counts {
		if st.InFlight() {
			inflight += n
		}
	}
	bar := ""
	if s.Total > 0 && width > 0 {
		v := done * width / s.Total
		f := failed * width / s.Total
		bar = "[" + strings.Repeat("=", v) + strings.Repeat("x", f) + strings.Repeat(" ", max(0, width-v-f)) + "] "
	}
	return fmt.Sprintf("%s%s %-17s phase %-6s verified %d/%d  failed %d  in flight %d  queued %d",
		bar, s.ID, s.State, s.PhaseName, done, s.Total, failed, inflight, s.Counts[campaign.Queued])
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
			q := url.Values{}
			if devices {
				q.Set("devices", "true")
			}
			get := func() (*campaign.Summary, error) {
				var s campaign.Summary
				err := c.Get(context.Background(), "/api/v1/campaigns/"+url.PathEscape(args[0]), q, &s)
				return &s, err
			}
			s, err := get()
			if err != nil {
				return fleetErr(err)
			}
			if watchLive {
				for {
					fmt.Fprintf(env.Stdout, "\r\x1b[K%s", progressLine(s, 30))
					if s.State == campaign.Completed || s.State == campaign.Stopped || s.State == campaign.Paused || s.State == campaign.Awaiting {
						fmt.Fprintln(env.Stdout)
						break
					}
					time.Sleep(every)
					if s, err = get(); err != nil {
						fmt.Fprintln(env.Stdout)
						return fleetErr(err)
					}
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
			if watchLive && s.State != campaign.Completed {
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

func printSummary(w io.Writer, s *campaign.Summary) {
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

func newCampaignControlCmd(env *Env, o *fleetOpts, a campaign.Action) *cobra.Command {
	var reason string
	short := map[campaign.Action]string{
		campaign.Pause:   "Pause a campaign: no new device is notified",
		campaign.Resume:  "Resume a paused campaign (its failures so far are acknowledged)",
		campaign.Cancel:  "Cancel a campaign: queued devices are dropped, unstarted jobs withdrawn",
		campaign.Approve: "Approve the phase a campaign waits for",
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
			body, _ := json.Marshal(map[string]string{"reason": reason})
			var s campaign.Summary
			if err := c.Post(context.Background(), "/api/v1/campaigns/"+url.PathEscape(args[0])+"/"+string(a), nil, bytes.NewReader(body), "application/json", &s); err != nil {
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
