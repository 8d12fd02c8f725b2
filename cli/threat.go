package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"rampart/threat"
)

func init() { register("threat", newThreatCmd) }

func newThreatCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "threat",
		Short: "Analyze: keep the threat model and security analysis (TMSA) as checked code",
		Long: `A threat model is a YAML file: target of evaluation, assets with their
confidentiality, integrity and authenticity needs, threat agents, attack
surfaces, threats (STRIDE, CVSS 3.1 vector), security objectives, requirements
traced to PSA Certified Level 1 and to evidence, assumptions and policies.
The format is in docs/threat-model-format.md; 'rampart threat schema' prints
its JSON Schema for editors.`,
		Example: `  rampart threat init --template asset-tracker model/
  rampart threat check model/threat-model.yaml
  rampart threat report model/threat-model.yaml --format html -o report.html
  rampart threat report model/threat-model.yaml --format sarif > threat.sarif
  rampart threat partition model/threat-model.yaml --format mermaid`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newThreatInitCmd(env), newThreatCheckCmd(env), newThreatReportCmd(env),
		newThreatPartitionCmd(env), newThreatSchemaCmd(env), newThreatCVSSCmd(env))
	return cmd
}

// threatModelFile is the name `threat init` writes.
const threatModelFile = "threat-model.yaml"

func newThreatInitCmd(env *Env) *cobra.Command {
	var template string
	var force, list bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write an example threat model to start from",
		Long: `Write ` + threatModelFile + ` into DIR (default: the current directory) from one of
the example models written for Rampart: ` + strings.Join(threat.Templates(), ", ") + `.
An existing file is kept unless --force is given.`,
		Example: `  rampart threat init
  rampart threat init --template network-camera camera/
  rampart threat init --list`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("%s takes at most one directory (got %d arguments)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				for _, t := range threat.Templates() {
					fmt.Fprintln(env.Stdout, t)
				}
				return nil
			}
			data, err := threat.Template(template)
			if err != nil {
				return fail(ExitUsage, err, "templates: "+strings.Join(threat.Templates(), ", "))
			}
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fail(ExitError, fmt.Errorf("threat: %w", err), "")
			}
			path := filepath.Join(dir, threatModelFile)
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(path, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fail(ExitError, fmt.Errorf("threat: %s already exists", path), "use --force to overwrite it")
			}
			if err != nil {
				return fail(ExitError, fmt.Errorf("threat: %w", err), "")
			}
			if _, err := f.Write(data); err != nil {
				f.Close()
				return fail(ExitError, fmt.Errorf("threat: writing %s: %w", path, err), "")
			}
			if err := f.Close(); err != nil {
				return fail(ExitError, fmt.Errorf("threat: writing %s: %w", path, err), "")
			}
			fmt.Fprintf(env.Stdout, "wrote %s (template %s)\nnext: edit it, then run: rampart threat check %s\n", path, template, path)
			return nil
		},
	}
	cmd.Flags().StringVarP(&template, "template", "t", threat.DefaultTemplate, "example model: "+strings.Join(threat.Templates(), ", "))
	cmd.Flags().BoolVar(&force, "force", false, "overwrite an existing "+threatModelFile)
	cmd.Flags().BoolVar(&list, "list", false, "list the templates and exit")
	return cmd
}

// loadThreatModel loads path; content problems are printed one per line to
// stderr and returned as an exit-1 error, read failures as exit 3.
func loadThreatModel(env *Env, path string) (*threat.Model, *threat.LoadError, error) {
	m, err := threat.Load(path)
	if err == nil {
		return m, nil, nil
	}
	var le *threat.LoadError
	if errors.As(err, &le) {
		return nil, le, fail(ExitFailure, fmt.Errorf("threat: %s is not a valid model (%d problem(s))", path, len(le.Problems)), "the format is in docs/threat-model-format.md; 'rampart threat schema' gives editors a JSON Schema")
	}
	return nil, nil, fail(ExitError, err, "")
}

func threatPrintProblems(w io.Writer, le *threat.LoadError) {
	for _, p := range le.Problems {
		fmt.Fprintf(w, "%s\n", p)
	}
}

type threatCheckJSON struct {
	File     string           `json:"file"`
	OK       bool             `json:"ok"`
	Problems []threat.Problem `json:"problems"`
	Findings []threat.Finding `json:"findings"`
}

func newThreatCheckCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check FILE",
		Short: "Check a threat model: structure, references, cycles and coverage",
		Long: `Load FILE (rejecting malformed YAML, unknown fields, wrong types and invalid CVSS
vectors) and check it: unique IDs, references that resolve to the right kind of
item, no cycles, every asset threatened or justified, every threat mitigated or
given a justified disposition, every objective realised by a requirement, every
requirement traced to an objective and to evidence. Each finding names
file:line:column. Exit 0 when there is no error (warnings allowed), 1 when
there is one, 3 when the file cannot be read.`,
		Example: `  rampart threat check threat-model.yaml
  rampart threat check --json threat-model.yaml | jq '.findings[]'`,
		Args: exactArgs(1, "one model file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, le, err := loadThreatModel(env, args[0])
			if le != nil {
				if asJSON {
					threatWriteJSON(env.Stdout, threatCheckJSON{File: args[0], Problems: le.Problems, Findings: []threat.Finding{}})
				} else {
					threatPrintProblems(env.Stderr, le)
				}
				return err
			}
			if err != nil {
				return err
			}
			fs := threat.Check(m)
			errs := threat.Errors(fs)
			if asJSON {
				if fs == nil {
					fs = []threat.Finding{}
				}
				threatWriteJSON(env.Stdout, threatCheckJSON{File: args[0], OK: errs == 0, Problems: []threat.Problem{}, Findings: fs})
			} else {
				for _, f := range fs {
					fmt.Fprintln(env.Stdout, f)
				}
				fmt.Fprintf(env.Stdout, "%s: %d asset(s), %d threat(s), %d objective(s), %d requirement(s): %d error(s), %d warning(s)\n",
					args[0], len(m.Assets), len(m.Threats), len(m.Objectives), len(m.Requirements), errs, len(fs)-errs)
			}
			if errs > 0 {
				return fail(ExitFailure, fmt.Errorf("threat: %s: %d error(s)", args[0], errs), "")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func threatWriteJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// threatOutput returns stdout, or the file named by -o.
func threatOutput(env *Env, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return env.Stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fail(ExitError, fmt.Errorf("threat: %w", err), "")
	}
	return f, f.Close, nil
}

func newThreatReportCmd(env *Env) *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "report FILE",
		Short: "Render a threat model as Markdown, HTML, JSON or SARIF",
		Long: `Render FILE as a report. html is one self-contained page (no external
resources) with a risk matrix, the data-flow diagram with trust boundaries,
the partition diagram and traceability tables; sarif is SARIF 2.1.0 for CI code
scanning (check findings and the residual risks of threats not controlled);
json is the model with computed CVSS scores and the findings; md is Markdown.
A model with check errors is still rendered (the errors are in the report);
a file that does not load is an error (with --format sarif its problems are
written as SARIF results).`,
		Example: `  rampart threat report threat-model.yaml --format html -o threat-model.html
  rampart threat report threat-model.yaml --format sarif > threat.sarif
  rampart threat report threat-model.yaml --format md > THREATS.md`,
		Args: exactArgs(1, "one model file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			known := false
			for _, f := range threat.Formats {
				known = known || f == format
			}
			if !known {
				return usageError("--format %q: want one of %s", format, strings.Join(threat.Formats, ", "))
			}
			m, le, err := loadThreatModel(env, args[0])
			if le != nil {
				threatPrintProblems(env.Stderr, le)
				if format == threat.FormatSARIF {
					w, done, oerr := threatOutput(env, out)
					if oerr != nil {
						return oerr
					}
					if werr := threat.WriteLoadErrorSARIF(w, le); werr != nil {
						return fail(ExitError, werr, "")
					}
					if cerr := done(); cerr != nil {
						return fail(ExitError, cerr, "")
					}
				}
				return err
			}
			if err != nil {
				return err
			}
			w, done, err := threatOutput(env, out)
			if err != nil {
				return err
			}
			if err := threat.WriteReport(w, threat.Analyze(m), format); err != nil {
				done()
				return fail(ExitError, err, "")
			}
			if err := done(); err != nil {
				return fail(ExitError, fmt.Errorf("threat: writing %s: %w", out, err), "")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", threat.FormatMarkdown, "md, html, json or sarif")
	outFlag(cmd, &out, "write to this file instead of standard output", "output")
	cmd.Flags().MarkHidden("output") // the spelling of earlier releases
	return cmd
}

func newThreatPartitionCmd(env *Env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "partition FILE",
		Short: "Advise which components belong on the Secure side",
		Long: `Advise, for every component of the model, whether it belongs on the Secure
side (those that protect an asset or hold a general device asset with a high
confidentiality or integrity need), the Non-secure side, or outside the
device, with the reasons, as a component diagram. Exit 1 when a component's
declared zone contradicts the advice.`,
		Example: `  rampart threat partition threat-model.yaml
  rampart threat partition threat-model.yaml --format mermaid
  rampart threat partition threat-model.yaml --format svg > partition.svg`,
		Args: exactArgs(1, "one model file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, le, err := loadThreatModel(env, args[0])
			if le != nil {
				threatPrintProblems(env.Stderr, le)
				return err
			}
			if err != nil {
				return err
			}
			ps := threat.Partition(m)
			switch format {
			case "text":
				fmt.Fprint(env.Stdout, threat.PartitionText(ps))
			case "mermaid":
				fmt.Fprint(env.Stdout, threat.PartitionMermaid(m, ps))
			case "svg":
				fmt.Fprintln(env.Stdout, threat.PartitionSVG(m, ps))
			case "json":
				threatWriteJSON(env.Stdout, ps)
			default:
				return usageError("--format %q: want text, mermaid, svg or json", format)
			}
			var conflicts []string
			for _, p := range ps {
				if p.Conflict {
					conflicts = append(conflicts, fmt.Sprintf("%s is declared %s but advised %s", p.Component, p.Declared, p.Advice))
				}
			}
			if len(conflicts) > 0 {
				return fail(ExitFailure, fmt.Errorf("threat: %s", strings.Join(conflicts, "; ")), "move the component or change what it holds and protects")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "text", "text, mermaid, svg or json")
	return cmd
}

func newThreatSchemaCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the threat model format (for editors)",
		Example: `  rampart threat schema > threat-model.schema.json
  # VS Code (YAML extension): "yaml.schemas": {"threat-model.schema.json": "threat-model.yaml"}`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := env.Stdout.Write(threat.Schema())
			return err
		},
	}
}

func newThreatCVSSCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cvss VECTOR",
		Short: "Compute the CVSS 3.1 scores of a vector",
		Example: `  rampart threat cvss CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:N
  rampart threat cvss --json CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:F/RL:O/RC:C`,
		Args: exactArgs(1, "one CVSS 3.1 vector"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := threat.ParseCVSS(args[0])
			if err != nil {
				return fail(ExitFailure, fmt.Errorf("threat: %w", err), "a vector looks like CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
			}
			if asJSON {
				threatWriteJSON(env.Stdout, s)
				return nil
			}
			fmt.Fprintf(env.Stdout, "base %.1f (%s), temporal %.1f, environmental %.1f; impact %.2f, exploitability %.2f\n",
				s.Base, s.Severity, s.Temporal, s.Environmental, s.Impact, s.Exploitability)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the scores as JSON")
	return cmd
}
