// Package cli builds Rampart's command line: one file per subcommand, each
// registering itself with [register], all writing through an injectable [Env]
// so tests run commands in-process.
//
// It holds no domain logic: every subcommand parses flags, calls the package
// that owns the behaviour (image, boot, spe, ...) and formats the result. It
// must never be imported by any other package.
package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the operation ran and the answer is "no" (invalid image, failed check)
	ExitUsage   = 2 // the command line itself was wrong
	ExitError   = 3 // an input could not be read or an internal error occurred
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; tests replace it.
	Getenv func(string) string

	atExit []func() // run by Main when the command returns
}

// StdEnv is the process's real environment.
func StdEnv() *Env {
	return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// exitError carries an exit code and an optional hint up to [Main].
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// fail wraps err so that Main exits with code and prints hint (if any).
func fail(code int, err error, hint string) error {
	return &exitError{code: code, err: err, hint: hint}
}

// failf is fail with a formatted message and no hint.
func failf(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// inputFail is the error of a file that was to be read and checked: exit
// 3 when it could not be read (missing, no permission, not a file), 1 when
// it was read and is not valid, with hint.
func inputFail(err error, hint string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fail(ExitError, err, "")
	}
	return fail(ExitFailure, err, hint)
}

// usageError marks a command-line mistake (exit 2).
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...), hint: "run with --help for usage and examples"}
}

// commandFactory builds one top-level subcommand for an Env.
type commandFactory struct {
	name string
	new  func(*Env) *cobra.Command
}

var factories []commandFactory

// register adds a top-level subcommand; each subcommand file calls it from init.
func register(name string, f func(*Env) *cobra.Command) {
	factories = append(factories, commandFactory{name, f})
}

// Root builds the whole command tree for env.
func Root(env *Env) *cobra.Command { return buildRoot(env, factories) }

// buildRoot builds the root command with the top-level subcommands of fs.
func buildRoot(env *Env, fs []commandFactory) *cobra.Command {
	root := &cobra.Command{
		Use:   "rampart",
		Short: "Rampart: Arm's PSA method as one toolkit for securing IoT devices",
		Long: `Rampart turns the Platform Security Architecture method into working software:
analyze (threat), architect (zone), implement (image, boot, spe, attest, server, agent)
and certify. Every subcommand has --help with examples.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.CompletionOptions.HiddenDefaultCmd = true
	sorted := append([]commandFactory(nil), fs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	for _, f := range sorted {
		root.AddCommand(f.new(env))
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: ExitUsage, err: err, hint: "run with --help for usage and examples"}
	})
	return root
}

// Main runs the CLI with args and returns the process exit code. Errors are
// printed as "rampart: ..." with an optional "hint: ..." line.
func Main(args []string, env *Env) int {
	return mainWith(args, env, rootFor(env, args))
}

// mainWith runs args on root and maps the result to an exit code.
func mainWith(args []string, env *Env, root *cobra.Command) int {
	root.SetArgs(args)
	err := root.Execute()
	for _, f := range env.atExit {
		f()
	}
	env.atExit = nil
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "rampart: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.hint != "" {
			fmt.Fprintf(env.Stderr, "hint: %s\n", ee.hint)
		}
		return ee.code
	}
	// cobra's own argument errors (unknown command, wrong arg count) are usage errors.
	if isCobraUsage(err) {
		fmt.Fprintln(env.Stderr, "hint: run with --help for usage and examples")
		return ExitUsage
	}
	return ExitError
}
