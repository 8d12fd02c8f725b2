package cli

import (
	"encoding/json"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"rampart/demo"
	"rampart/internal/secfile"
)

func init() { register("demo", newDemoCmd) }

func newDemoCmd(env *Env) *cobra.Command {
	var dir string
	var keep, asJSON, temporary, serve bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the end-to-end quickstart on embedded defaults, narrated",
		Long: `demo takes a device through every part of Rampart this build has, in a
temporary directory, checking each outcome: signing keys, signed firmware, verification,
tampering refused, secure boot, upgrades, attestation, fleet enrollment and a campaign.
It ends with a summary and exits 0 only if every step passed.

With --serve the fleet keeps running after the steps, with more simulated devices
enrolling and reporting telemetry, and the demo prints the fleet console's address
and a token to sign in with (docs/console.md); interrupt it (Ctrl-C) to stop.`,
		Example: `  rampart demo
  rampart demo --dir ./demo-out --keep
  rampart demo --json
  rampart demo --serve`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				d, err := os.MkdirTemp("", "rampart-demo-")
				if err != nil {
					return fail(ExitError, err, "")
				}
				dir = d
				if !keep {
					temporary = true
					defer os.RemoveAll(d)
				}
			} else if err := secfile.MkdirAll(dir); err != nil { // signing keys, device state
				return fail(ExitError, err, "")
			}
			out := env.Stdout
			if asJSON {
				out = env.Stderr
			}
			o := demo.Options{Dir: dir, Out: out, Temporary: temporary}
			if serve {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				o.Serve = ctx
			}
			sum := demo.Run(o)
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return fail(ExitError, err, "")
				}
			}
			if !sum.OK() {
				return failf(ExitFailure, "demo: %d of %d steps failed", sum.Failed, len(sum.Steps))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "work in this directory instead of a temporary one (kept)")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	cmd.Flags().BoolVar(&serve, "serve", false, "leave the fleet running with simulated devices and print the console's address and a sign-in token")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout (narration goes to stderr)")
	return cmd
}
