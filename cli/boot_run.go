package cli

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fxamacker/cbor/v2"
	"github.com/spf13/cobra"

	"rampart/boot"
)

func newBootRunCmd(env *Env) *cobra.Command {
	var asJSON bool
	var recordsOut string
	cmd := &cobra.Command{
		Use:     "run DEVICE-DIR",
		Aliases: []string{"boot"},
		Short:   "Boot the device once: resume, upgrade or revert, validate, measure; print why",
		Long: `Run the bootloader once on the device: finish an interrupted swap, apply MCUboot's
swap table to the trailers (test, permanent, revert), validate each candidate (hash,
signature by a provisioned key, size, security counter, version, dependencies) and erase
a secondary that fails, move the images, validate every primary image, raise security
counters where MCUboot would, and print for each image what was done and why, with the
boot record attestation will use. --records writes the boot records as a CBOR array.

Exit codes: 0 booted, 1 no bootable image, 3 unreadable device.`,
		Example: `  rampart boot run dev/
  rampart boot run dev/ --json
  rampart boot run dev/ --records boot-records.cbor`,
		Args: exactArgs(1, "one DEVICE-DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := openBootDevice(args[0])
			if err != nil {
				return err
			}
			defer d.Close()
			res, berr := d.Boot.Boot()
			if berr != nil && !errors.Is(berr, boot.ErrNoBootableImage) {
				return fail(ExitError, berr, "")
			}
			if recordsOut != "" && berr == nil {
				b, err := cbor.Marshal(res.Records())
				if err != nil {
					return fail(ExitError, err, "")
				}
				if err := os.WriteFile(recordsOut, b, 0o644); err != nil {
					return fail(ExitError, fmt.Errorf("boot: %w", err), "")
				}
			}
			if asJSON {
				out := struct {
					Booted bool `json:"booted"`
					*boot.Result
					Error string `json:"error,omitempty"`
				}{Booted: berr == nil, Result: res}
				if berr != nil {
					out.Error = berr.Error()
				}
				if err := bootWriteJSON(env.Stdout, out); err != nil {
					return err
				}
			} else {
				bootPrintResult(env.Stdout, res)
			}
			if berr != nil {
				return fail(ExitFailure, berr, bootRefusalHint(berr))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&recordsOut, "records", "", "write the boot records (a CBOR array) to this file")
	return cmd
}

func bootPrintResult(w io.Writer, res *boot.Result) {
	for _, im := range res.Images {
		fmt.Fprintf(w, "image %d (%s): action %s", im.Index, im.Name, im.Action)
		if im.Resumed {
			fmt.Fprint(w, " (resumed)")
		}
		if im.Booted {
			fmt.Fprintf(w, ", booted %s, security counter %d (device %d)\n", im.Version, im.SecurityCounter, im.DeviceCounter)
		} else {
			fmt.Fprint(w, ", NOT BOOTABLE\n")
		}
		for _, n := range im.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
		if r := im.Record; r != nil {
			fmt.Fprintf(w, "  boot record: type %s, version %s, %s %s, signer %s\n", r.MeasurementType, r.Version,
				r.MeasurementDescription, hex.EncodeToString(r.MeasurementValue), hex.EncodeToString(r.SignerID))
		}
	}
	if res.ScratchErases > 0 {
		fmt.Fprintf(w, "scratch area: %d sector erases this boot (swap-scratch wear)\n", res.ScratchErases)
	}
}

func bootWriteJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(ExitError, err, "")
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newBootShowCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show DEVICE-DIR",
		Short: "Show each image's slots, trailers, validity, pending swap and security counter",
		Long: `Read the device without changing it: for every image, both slots' trailers (magic,
swap type, copy_done, image_ok, swap size), the image each slot holds and whether it
validates, what the next boot will do, and the OTP security counter; then the state
of each provisioned release key (active, pending, retiring or revoked: docs/boot.md §7a).
--json prints the images only.`,
		Example: `  rampart boot show dev/
  rampart boot show dev/ --json | jq '.[0].next_swap'`,
		Args: exactArgs(1, "one DEVICE-DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := openBootDevice(args[0])
			if err != nil {
				return err
			}
			defer d.Close()
			st, err := d.Boot.State()
			if err != nil {
				return fail(ExitError, err, "")
			}
			if asJSON {
				return bootWriteJSON(env.Stdout, st)
			}
			fmt.Fprintf(env.Stdout, "strategy %s, write alignment %d, erased value %#02x\n", d.Config.Strategy, d.Config.Flash.WriteAlign, d.Config.Flash.ErasedValue)
			for _, im := range st {
				next := im.NextSwap.String()
				if im.SwapPending {
					next += " (interrupted, will resume)"
				}
				fmt.Fprintf(env.Stdout, "image %d (%s): next boot: %s; security counter %d\n", im.Index, im.Name, next, im.DeviceCounter)
				for _, s := range []struct {
					name string
					s    boot.SlotState
				}{{"primary", im.Primary}, {"secondary", im.Secondary}} {
					what := s.s.Problem
					if s.s.Valid {
						what = fmt.Sprintf("valid %s, %d bytes, security counter %d", s.s.Version, s.s.ImageSize, s.s.SecurityCounter)
					}
					t := s.s.Trailer
					fmt.Fprintf(env.Stdout, "  %-9s @%#08x +%#x: %s\n", s.name, s.s.Offset, s.s.Size, what)
					fmt.Fprintf(env.Stdout, "            trailer: magic %s, swap_type %s, copy_done %s, image_ok %s, swap_size %d\n",
						t.Magic, t.SwapType, t.CopyDone, t.ImageOK, t.SwapSize)
				}
			}
			fmt.Fprintf(env.Stdout, "release keys: %s\n", d.Boot.Counters().KeyStatuses(len(d.Keys)))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the state as JSON")
	return cmd
}
