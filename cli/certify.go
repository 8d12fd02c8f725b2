package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"rampart/certify"
)

func init() { register("certify", newCertifyCmd) }

func newCertifyCmd(env *Env) *cobra.Command {
	var project, format, out string
	var strict bool
	cmd := &cobra.Command{
		Use:   "certify",
		Short: "Certify: a PSA Certified Level 1 self-assessment from the project's evidence",
		Long: `Read the project file (rampart.yaml), which names the threat model, the zone
configuration, the image-signing configuration, the device configuration and
the SPE configuration; inspect each (signing key type, security counter,
storage encryption, attestation, lifecycle and debug, zone isolation, the
threat model's traced requirements) and answer each PSA Certified Level 1
requirement R1.1 to R7.1: met, partly, not met or not applicable, with the
evidence found. A named file that is absent is reported as "not found".

Exit 0 when no requirement is "not met" (with --strict: none is "partly"
either), 1 otherwise, 3 when the project file cannot be read. The project
file and the settings read are described in docs/certify.md.`,
		Example: `  rampart certify
  rampart certify --project examples/project/rampart.yaml --format html -o certify.html
  rampart certify --format json | jq '.results[] | select(.status != "met")'`,
		Args: exactArgs(0, "no arguments (use --project)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			known := false
			for _, f := range certify.Formats {
				known = known || f == format
			}
			if !known {
				return usageError("--format %q: want one of %s", format, strings.Join(certify.Formats, ", "))
			}
			p, err := certify.LoadProject(project)
			if err != nil {
				if errors.Is(err, certify.ErrProject) {
					return fail(ExitFailure, err, "the project file format is in docs/certify.md")
				}
				return fail(ExitError, err, "create a rampart.yaml or name one with --project")
			}
			a := certify.Assess(p)
			w := env.Stdout
			var f *os.File
			if out != "" && out != "-" {
				f, err = os.Create(out)
				if err != nil {
					return fail(ExitError, fmt.Errorf("certify: %w", err), "")
				}
				w = f
			}
			werr := certify.Write(w, a, format)
			if f != nil {
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
			}
			if werr != nil {
				return fail(ExitError, fmt.Errorf("certify: writing the assessment: %w", werr), "")
			}
			if a.Failed(strict) {
				return fail(ExitFailure, fmt.Errorf("certify: %d requirement(s) not met, %d partly met, of %d",
					a.Summary[certify.NotMet], a.Summary[certify.Partly], len(a.Results)), "the evidence column says what was not found")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "rampart.yaml", "the project file")
	cmd.Flags().StringVarP(&format, "format", "f", "md", "md, html or json")
	outFlag(cmd, &out, "write to this file instead of standard output", "output")
	cmd.Flags().MarkHidden("output") // the spelling of earlier releases
	cmd.Flags().BoolVar(&strict, "strict", false, "also fail when a requirement is only partly met")
	return cmd
}
