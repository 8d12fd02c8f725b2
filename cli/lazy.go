package cli

import "github.com/spf13/cobra"

// rootFor builds the command tree a run with args needs: when the first
// argument names a top-level subcommand, that subcommand alone (its own
// subcommands, flags and help are complete); otherwise (root help, an
// unknown or misspelt command, shell completion) the whole tree, so that
// cobra's listings and suggestions are the same as [Root]'s.
//
// Building every subcommand costs each process the constructors of all of
// them (flag sets, help texts, maps): about 0.5 ms of a short command such
// as `rampart image verify`, which a firmware build runs many times.
func rootFor(env *Env, args []string) *cobra.Command {
	if len(args) > 0 {
		for _, f := range factories {
			if f.name == args[0] {
				return buildRoot(env, []commandFactory{f})
			}
		}
	}
	return Root(env)
}
