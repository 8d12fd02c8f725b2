package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"rampart/adminapi"
	"rampart/attest"
	"rampart/internal/secfile"
	"rampart/ownership"
)

// newFleetOwnershipCmd is `rampart fleet ownership`: vouchers and the
// transfer of a device from one fleet to another
// (docs/ownership-and-rotation.md).
func newFleetOwnershipCmd(env *Env, o *fleetOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ownership",
		Short: "Transfer devices between fleets with ownership vouchers",
		Long: `A device moves from one fleet (the seller) to another (the buyer) with its voucher: a
chain of signatures from its manufacturer's endorsement key to its current owner
(docs/ownership-and-rotation.md). The buyer gives the seller its owner key; the seller
extends the voucher to it; the buyer imports the extended voucher and answers with its
onboarding ticket; the seller releases the device with both, which tells the device to
re-onboard to the buyer. The device is revoked at the seller when it acknowledges.`,
		Example: `  # buyer:  rampart fleet ownership key > buyer-owner.pem
  # seller: rampart fleet ownership extend 3fa2... --to buyer-owner.pem -o 3fa2.voucher
  # buyer:  rampart fleet ownership import 3fa2.voucher -o 3fa2.ticket
  # seller: rampart fleet ownership release 3fa2... --voucher 3fa2.voucher --ticket 3fa2.ticket --export 3fa2.json
  # factory (offline): rampart fleet ownership issue --key mfr.pem --instance 01ab... --to first-owner.pem -o dev.voucher`,
		Args: exactArgs(0, "a subcommand (key, issue, extend, import, release)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(ownershipKeyCmd(env, o), ownershipIssueCmd(env), ownershipExtendCmd(env, o), ownershipImportCmd(env, o), ownershipReleaseCmd(env, o))
	return cmd
}

func ownershipKeyCmd(env *Env, o *fleetOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "key",
		Short:   "Print the fleet's owner public key (PEM): what a seller extends a voucher to",
		Example: "  rampart fleet ownership key > buyer-owner.pem",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			k, err := c.OwnerKey(context.Background())
			if err != nil {
				return fleetErr(err)
			}
			if o.json {
				return printJSON(env, k)
			}
			_, err = fmt.Fprint(env.Stdout, k.PublicKey)
			return err
		},
	}
}

// writeOutput writes binary output to a file (0600: a voucher or ticket
// is not secret, but it is a device's, and secfile is the one way to write
// device data) or to standard output with "-".
func writeOutput(env *Env, path string, b []byte) error {
	if path == "-" {
		_, err := env.Stdout.Write(b)
		return err
	}
	if err := secfile.WriteFile(path, b); err != nil {
		return fail(ExitError, err, "")
	}
	return nil
}

func ownershipIssueCmd(env *Env) *cobra.Command {
	var keyFile, name, instance, to, out string
	c := &cobra.Command{
		Use:   "issue --key MFR.pem --instance HEX --to OWNER.pem -o VOUCHER",
		Short: "Start a device's voucher at the factory (offline): hop 0 signed by the manufacturer key",
		Long: `Sign the first hop of a device's voucher with the manufacturer's endorsement key (the key
that signed its endorsement and that the fleets trust), handing the device (its PSA
instance ID, 33 bytes in hex as 'rampart fleet endorsements list' shows it) to its first
owner's key (PEM, as 'rampart fleet ownership key' prints it).`,
		Example: "  rampart fleet ownership issue --key acme.pem --manufacturer acme --instance 01ab...ef --to fleet-a-owner.pem -o dev.voucher",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if keyFile == "" || instance == "" || to == "" || out == "" {
				return usageError("--key, --instance, --to and -o are required")
			}
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return fail(ExitError, err, "")
			}
			key, err := attest.ParsePrivateKeyPEM(kb)
			if err != nil {
				return fail(ExitError, err, "the manufacturer key is an ECDSA P-256 or P-384 private key (PEM)")
			}
			inst, err := hex.DecodeString(instance)
			if err != nil || len(inst) == 0 {
				return usageError("--instance: not hex")
			}
			pb, err := os.ReadFile(to)
			if err != nil {
				return fail(ExitError, err, "")
			}
			owner, err := attest.ParsePublicKeyPEM(pb)
			if err != nil {
				return fail(ExitError, err, "--to is the owner's public key (PEM)")
			}
			v, err := ownership.Issue(key, inst, owner, ownership.Signing{Name: name, Rand: rand.Reader})
			if err != nil {
				return fail(ExitFailure, err, "")
			}
			b, err := v.Marshal()
			if err != nil {
				return fail(ExitError, err, "")
			}
			return writeOutput(env, out, b)
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "manufacturer endorsement private key (PEM)")
	c.Flags().StringVar(&name, "manufacturer", "", "manufacturer name (protected kid; informative)")
	c.Flags().StringVar(&instance, "instance", "", "the device's instance ID (hex)")
	c.Flags().StringVar(&to, "to", "", "the first owner's public key (PEM)")
	c.Flags().StringVarP(&out, "out", "o", "", `write the voucher here ("-" for standard output)`)
	return c
}

func ownershipExtendCmd(env *Env, o *fleetOpts) *cobra.Command {
	var to, out string
	c := &cobra.Command{
		Use:     "extend DEVICE --to BUYER-OWNER.pem -o VOUCHER",
		Short:   "Extend a device's voucher to a buyer's owner key (seller; admin token)",
		Example: "  rampart fleet ownership extend 3fa2... --to buyer-owner.pem -o 3fa2.voucher",
		Args:    exactArgs(1, "a device id"),
		RunE: func(_ *cobra.Command, args []string) error {
			if to == "" || out == "" {
				return usageError("--to and -o are required")
			}
			pb, err := os.ReadFile(to)
			if err != nil {
				return fail(ExitError, err, "")
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			res, err := c.ExtendVoucher(context.Background(), args[0], string(pb))
			if err != nil {
				return fleetErr(err)
			}
			return writeOutput(env, out, res.Voucher)
		},
	}
	c.Flags().StringVar(&to, "to", "", "the buyer fleet's owner public key (PEM, from 'rampart fleet ownership key')")
	c.Flags().StringVarP(&out, "out", "o", "", `write the extended voucher here ("-" for standard output)`)
	return c
}

func ownershipImportCmd(env *Env, o *fleetOpts) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "import VOUCHER -o TICKET",
		Short: "Accept a device with its voucher and write this fleet's onboarding ticket (buyer; admin token)",
		Long: `Import a device's voucher. The server accepts it only if the chain starts at the
manufacturer key that endorsed the device (its endorsement must be imported first), is
unbroken, ends at this fleet's owner key and is newer than any voucher it used for the
device. The answer is the fleet's onboarding ticket for the device: give it to the seller.`,
		Example: "  rampart fleet ownership import 3fa2.voucher -o 3fa2.ticket",
		Args:    exactArgs(1, "a voucher file"),
		RunE: func(_ *cobra.Command, args []string) error {
			if out == "" {
				return usageError("-o is required")
			}
			b, err := attestReadInput(env, args[0], "voucher")
			if err != nil {
				return err
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			res, err := c.ImportVoucher(context.Background(), b)
			if err != nil {
				return fleetErr(err)
			}
			if err := writeOutput(env, out, res.Ticket); err != nil {
				return err
			}
			if o.json {
				return printJSON(env, res)
			}
			fmt.Fprintf(env.Stderr, "device %s owned by this fleet (voucher serial %d)\n", res.DeviceID, res.Serial)
			return nil
		},
	}
	c.Flags().StringVarP(&out, "out", "o", "", `write the onboarding ticket here ("-" for standard output)`)
	return c
}

func ownershipReleaseCmd(env *Env, o *fleetOpts) *cobra.Command {
	var voucher, ticket, export string
	c := &cobra.Command{
		Use:   "release DEVICE --voucher VOUCHER --ticket TICKET [--export FILE]",
		Short: "Give a device up to its buyer: publish the signed transfer message (seller; admin token)",
		Long: `Release a device: the extended voucher must be this fleet's with one hop to the buyer,
and the ticket the buyer's for this device. The server publishes a signed transfer
message on the device's jobs topic; the device checks it, acknowledges with an
attestation, destroys its key and enrolls at the buyer; on the acknowledgement the
device is decommissioned here (certificates revoked). --export writes the device's
record, certificates and audit entries for the buyer.`,
		Example: "  rampart fleet ownership release 3fa2... --voucher 3fa2.voucher --ticket 3fa2.ticket --export 3fa2.json",
		Args:    exactArgs(1, "a device id"),
		RunE: func(_ *cobra.Command, args []string) error {
			if voucher == "" || ticket == "" {
				return usageError("--voucher and --ticket are required")
			}
			vb, err := attestReadInput(env, voucher, "voucher")
			if err != nil {
				return err
			}
			tb, err := attestReadInput(env, ticket, "ticket")
			if err != nil {
				return err
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			res, err := c.ReleaseDevice(context.Background(), args[0], adminapi.ReleaseRequest{Voucher: vb, Ticket: tb, Export: export != ""})
			if err != nil {
				return fleetErr(err)
			}
			if export != "" && res.Export != nil {
				b, err := json.MarshalIndent(res.Export, "", "  ")
				if err != nil {
					return fail(ExitError, err, "")
				}
				if err := writeOutput(env, export, append(b, '\n')); err != nil {
					return err
				}
			}
			if o.json {
				return printJSON(env, res)
			}
			fmt.Fprintf(env.Stdout, "device %s released by %s (serial %d); revoked here when it acknowledges (until %s)\n", res.DeviceID, res.TransferID, res.Serial, fmtTime(res.Expires))
			return nil
		},
	}
	c.Flags().StringVar(&voucher, "voucher", "", "the extended voucher ('rampart fleet ownership extend')")
	c.Flags().StringVar(&ticket, "ticket", "", "the buyer's ticket ('rampart fleet ownership import' at the buyer)")
	c.Flags().StringVar(&export, "export", "", "write the device's data (JSON) here for the buyer")
	return c
}
