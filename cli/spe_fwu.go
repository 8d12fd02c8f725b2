package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
)

func init() { speSubcommands = append(speSubcommands, newSpeFWUCmd) }

// speFWUBlock is the size of one write call.
const speFWUBlock = 16 << 10

func newSpeFWUCmd(env *Env) *cobra.Command {
	var sock, stateDir, deviceDir string
	var component uint8
	var asJSON, accept, reboot bool
	cmd := &cobra.Command{
		Use:   "fwu",
		Short: "Firmware update through the SPE (PSA FWU): query a component, or stream and install an image",
		Long: `Drive the SPE's Firmware Update service. 'query' prints a component's state and versions;
'update IMAGE' streams a signed image into the component's secondary slot (start, write,
finish: the SPE verifies it with the device's boot keys and never stages an image that does
not verify), installs it for a test boot, and with --reboot asks the SPE to reboot the device
(with --state-dir the device boots in this process) and with --accept confirms the new image.
A component left FAILED or UPDATED by an earlier update is cleaned first.

Exit codes: 0 done, 1 refused (image not verified, wrong state), 2 usage, 3 I/O.`,
		Example: `  rampart spe fwu query --state-dir state --device dev
  rampart spe fwu update --state-dir state --device dev --reboot --accept v2.signed.bin`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	pf.StringVar(&stateDir, "state-dir", "", "run the SPE in this process from this state directory")
	pf.StringVar(&deviceDir, "device", "", "with --state-dir: the bootloader device directory")
	pf.Uint8Var(&component, "component", 0, "component (image index of the flash map)")
	pf.BoolVar(&asJSON, "json", false, "print the component's state as JSON")

	report := func(c *psaclient.FWU) error {
		info, err := c.Query(psa.FWUComponent(component))
		if err != nil {
			return speFWUErr(err, sock)
		}
		if asJSON {
			return json.NewEncoder(env.Stdout).Encode(map[string]any{
				"component": component, "state": info.State.String(), "error": info.Error,
				"version": info.Version.String(), "candidate": info.Candidate.String(), "max_size": info.MaxSize,
			})
		}
		fmt.Fprintf(env.Stdout, "component %d: %s, running %s, candidate %s", component, info.State, info.Version, info.Candidate)
		if info.Error != 0 {
			fmt.Fprintf(env.Stdout, ", last error %s", ipc.Status(info.Error))
		}
		fmt.Fprintln(env.Stdout)
		return nil
	}
	open := func() (*psaclient.FWU, func(), error) {
		if stateDir != "" && deviceDir == "" {
			return nil, nil, usageError("--state-dir needs --device: firmware update works on a bootloader device")
		}
		t, done, err := speTransport(env, sock, stateDir, deviceDir, -1)
		if err != nil {
			return nil, nil, err
		}
		c := psaclient.NewFWU(t)
		return c, func() { c.Close(); done() }, nil
	}
	query := &cobra.Command{
		Use:     "query",
		Short:   "Print a component's FWU state, running version and candidate",
		Example: `  rampart spe fwu query --socket /run/rampart/spe.sock --json`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			return report(c)
		},
	}
	update := &cobra.Command{
		Use:     "update IMAGE",
		Short:   "Stream a signed image to the SPE, verify and install it (then optionally reboot and accept)",
		Example: `  rampart spe fwu update --state-dir state --device dev --reboot --accept v2.signed.bin`,
		Args:    exactArgs(1, "the signed image"),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, err := os.ReadFile(args[0])
			if err != nil {
				return fail(ExitError, err, "")
			}
			c, done, err := open()
			if err != nil {
				return err
			}
			defer done()
			comp := psa.FWUComponent(component)
			// A finished or failed earlier update is cleaned first.
			if info, err := c.Query(comp); err == nil && (info.State == psa.FWUFailed || info.State == psa.FWUUpdated) {
				if err := c.Clean(comp); err != nil {
					return speFWUErr(err, sock)
				}
			}
			if err := c.Start(comp); err != nil {
				return speFWUErr(err, sock)
			}
			for off := 0; off < len(img); off += speFWUBlock {
				if err := c.Write(comp, uint32(off), img[off:min(off+speFWUBlock, len(img))]); err != nil {
					return speFWUErr(err, sock)
				}
			}
			if err := c.Finish(comp); err != nil {
				return speFWUErr(err, sock)
			}
			if _, err := c.Install(); err != nil {
				return speFWUErr(err, sock)
			}
			if reboot {
				if err := c.RequestReboot(); err != nil {
					return speFWUErr(err, sock)
				}
				// An overwrite-only bootloader has no trial: the image is
				// UPDATED at once and there is nothing to accept.
				if info, err := c.Query(comp); accept && err == nil && info.State == psa.FWUTrial {
					if err := c.Accept(); err != nil {
						return speFWUErr(err, sock)
					}
				}
			}
			return report(c)
		},
	}
	update.Flags().BoolVar(&reboot, "reboot", false, "reboot the device after installing (the bootloader tests the image)")
	update.Flags().BoolVar(&accept, "accept", false, "with --reboot: accept the image once it runs")
	cmd.AddCommand(query, update)
	return cmd
}

func speFWUErr(err error, sock string) error {
	var st ipc.Status
	if errors.As(err, &st) {
		switch st {
		case ipc.ErrInvalidSignature:
			return fail(ExitFailure, err, "the image does not verify with the device's boot keys: it was not staged")
		case ipc.ErrBadState, ipc.ErrInvalidArgument, ipc.ErrDoesNotExist, ipc.ErrNotSupported:
			return fail(ExitFailure, err, "see 'rampart spe fwu query' for the component's state")
		}
	}
	return speDialErr(err, sock)
}
