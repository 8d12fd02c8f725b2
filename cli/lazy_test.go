package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestRegisteredNamesMatchCommands: rootFor picks a subcommand by the name
// it was registered under, so that name must be the command's own name
// (or `rampart NAME` would build nothing and fail as an unknown command).
func TestRegisteredNamesMatchCommands(t *testing.T) {
	env := StdEnv()
	for _, f := range factories {
		if got := f.new(env).Name(); got != f.name {
			t.Errorf("registered as %q, command is named %q", f.name, got)
		}
	}
}

// TestLazyRootSameBehaviour: a run through the lazily built tree gives the
// same output and exit code as through the whole tree, for a subcommand,
// its help, the root help, an unknown command and a misspelt one.
func TestLazyRootSameBehaviour(t *testing.T) {
	for _, args := range [][]string{
		{"version"}, {"image", "--help"}, {"image", "verify", "--help"}, {"--help"},
		{"nosuch"}, {"imag"}, {"image", "nosuch"}, {"zone", "check"},
	} {
		lazyOut, lazyCode := runWith(t, args, rootFor)
		fullOut, fullCode := runWith(t, args, func(env *Env, _ []string) *cobra.Command { return Root(env) })
		if lazyOut != fullOut || lazyCode != fullCode {
			t.Errorf("rampart %s: lazy tree gave exit %d and\n%s\nwhole tree gave exit %d and\n%s",
				strings.Join(args, " "), lazyCode, lazyOut, fullCode, fullOut)
		}
	}
}

// runWith runs args through a root built by build, as Main does.
func runWith(t *testing.T, args []string, build func(*Env, []string) *cobra.Command) (string, int) {
	t.Helper()
	var out bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	code := mainWith(args, env, build(env, args))
	return out.String(), code
}
