package cli

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"rampart/demo"
	"rampart/internal/secfile"
)

func init() { register("demo", newDemoCmd) }

func newDemoCmd(env *Env) *cobra.Command {
	var dir string
	var keep, asJSON, temporary bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the end-to-end quickstart on embedded defaults, narrated",
		Long: `demo takes a device through every part of Rampart this build has, in a
temporary directory, checking each outcome: signing keys, signed firmware, verification,
tampering refused, secure boot, upgrades, attestation, fleet enrollment and a campaign.
It ends with a summary and exits 0 only if every step passed.`,
		Example: `  rampart demo
  rampart demo --dir ./demo-out --keep
  rampart demo --json`,
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
			sum := demo.Run(demo.Options{Dir: dir, Out: out, Temporary: temporary})
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout (narration goes to stderr)")
	return cmd
}
