package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"rampart/adminapi"
	"rampart/internal/progress"
)

// newFleetCACmd is `rampart fleet ca`: rotation of the fleet CA
// (docs/ownership-and-rotation.md, section 8).
func newFleetCACmd(env *Env, o *fleetOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Rotate the fleet CA and follow the rotation",
		Example: `  rampart fleet ca rotate --rate 600      # then restart the server nodes one by one
  rampart fleet ca status --wait
  rampart fleet ca rotate --emergency     # the CA key leaked: its certificates are revoked at the switch`,
		Args: exactArgs(0, "a subcommand (rotate, status)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var emergency bool
	var rate int
	var out string
	rotate := &cobra.Command{
		Use:   "rotate [--emergency] [--rate N]",
		Short: "Stage a new fleet CA, cross-signed by the current one (admin token)",
		Long: `Make a new fleet CA, certified by the current one (a cross certificate), and stage it in
the store. Each server node switches to it when it starts: restart the nodes (one at a
time in a cluster: the devices of a node reconnect to the others). The nodes then issue
from the new CA, still accept certificates of the old one, and tell each device its new
trust anchor at --rate devices a minute; a device re-enrolls by attestation under the new
CA. The old CA is retired when no active device holds a certificate of it. Follow it with
'rampart fleet ca status --wait'.

--emergency is for a CA key that leaked: at the switch every certificate of the old CA is
revoked and none is accepted; devices, refused by the broker, re-enroll by attestation
alone and then learn the new anchor.`,
		Example: "  rampart fleet ca rotate --rate 1200\n  rampart fleet ca rotate --emergency",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			r, err := c.RotateCA(context.Background(), adminapi.RotateRequest{Emergency: emergency, Rate: rate})
			if err != nil {
				return fleetErr(err)
			}
			if out != "" {
				if err := writeOutput(env, out, []byte(r.Certificate)); err != nil {
					return err
				}
			}
			if o.json {
				return printJSON(env, r)
			}
			fmt.Fprintf(env.Stdout, "CA generation %d staged (emergency %v, %d devices a minute): restart the server nodes to switch to it\n", r.Generation, r.Emergency, r.Rate)
			return nil
		},
	}
	rotate.Flags().BoolVar(&emergency, "emergency", false, "untrust the current CA at the switch (its certificates revoked)")
	rotate.Flags().IntVar(&rate, "rate", 0, "devices told to re-enroll a minute (default 600)")
	rotate.Flags().StringVarP(&out, "out", "o", "", "write the new CA certificate (PEM) here: clients' --ca once the nodes switched")
	var wait bool
	var timeout time.Duration
	status := &cobra.Command{
		Use:     "status [--wait]",
		Short:   "Show the rotation's progress; --wait until the old CA is retired",
		Example: "  rampart fleet ca status\n  rampart fleet ca status --wait --timeout 2h",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			line := progress.New(env.Stderr)
			deadline := time.Now().Add(timeout)
			for {
				r, err := c.Rotation(context.Background())
				if err != nil {
					return fleetErr(err)
				}
				if !wait || r.State == "retired" || r.State == "" {
					if wait && !o.quiet {
						line.Done(rotationText(r))
					}
					if o.json {
						return printJSON(env, r)
					}
					fmt.Fprintln(env.Stdout, rotationText(r))
					return nil
				}
				if !o.quiet {
					line.Update(rotationText(r))
				}
				if time.Now().After(deadline) {
					return failf(ExitFailure, "the rotation is not retired after %s: %s", timeout, rotationText(r))
				}
				time.Sleep(time.Second)
			}
		},
	}
	status.Flags().BoolVar(&wait, "wait", false, "wait until the old CA is retired, showing the progress")
	status.Flags().DurationVar(&timeout, "timeout", time.Hour, "with --wait: give up after this long (exit status 1)")
	cmd.AddCommand(rotate, status)
	return cmd
}

func rotationText(r *adminapi.Rotation) string {
	if r.State == "" {
		return "the fleet CA was never rotated"
	}
	s := fmt.Sprintf("CA generation %d %s", r.Generation, r.State)
	if r.State == "active" {
		s += fmt.Sprintf(": %d of %d active devices still on the old CA, %d told", r.Pending, r.Active, r.Notified)
	}
	if r.Emergency {
		s += " (emergency)"
	}
	return s
}
