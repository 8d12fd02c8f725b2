package cli

import (
	"strings"

	"github.com/spf13/cobra"
)

// isCobraUsage reports whether err is one of cobra's command-line errors,
// which cobra returns as plain strings.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// exactArgs is cobra.ExactArgs with an exit-2 usage error naming what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s takes %s (got %d arguments)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// outFlag registers the output-file flag every command spells -o/--out,
// and, when alias is not empty, the spelling a reference tool uses for the
// same flag (imgtool's --output, --outfile), bound to the same variable so
// that scripts written for that tool keep working.
func outFlag(cmd *cobra.Command, p *string, usage, alias string) {
	cmd.Flags().StringVarP(p, "out", "o", "", usage)
	if alias != "" {
		cmd.Flags().StringVar(p, alias, "", "the same as --out (imgtool's spelling)")
	}
}
