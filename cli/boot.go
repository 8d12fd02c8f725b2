package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"rampart/boot"
	"rampart/image"
)

func init() { register("boot", newBootCmd) }

func newBootCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Simulate a device's bootloader: flash, slots, upgrades, reverts, boot records",
		Long: `Run Rampart's bootloader against a simulated device kept in a directory: its flash
(file-backed), its flash map, its provisioned public keys and its one-time-programmable
security counters. Images are MCUboot images (rampart image sign); trailers follow
MCUboot, so an image signed with --pad is a test upgrade and one signed with --confirm
a permanent one. See docs/boot.md.`,
		Example: `  rampart boot create --map flash-map.yaml --key root-pub.pem dev/
  rampart boot install dev/ --slot primary app-v1.signed.bin
  rampart boot run dev/
  rampart boot install dev/ app-v2.signed.bin && rampart boot request dev/ --test
  rampart boot run dev/ --json
  rampart boot confirm dev/
  rampart boot show dev/`,
		Args: exactArgs(0, "a subcommand"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBootCreateCmd(env), newBootInstallCmd(env), newBootRequestCmd(env),
		newBootRunCmd(env), newBootConfirmCmd(env), newBootShowCmd(env))
	return cmd
}

// openBootDevice opens a device directory (boot's layout).
func openBootDevice(dir string) (*boot.Device, error) {
	d, err := boot.OpenDevice(dir)
	if err != nil {
		return nil, fail(ExitError, err, "is "+dir+" a device made by `rampart boot create`?")
	}
	return d, nil
}

// bootLoadKey reads a key file given on the command line.
func bootLoadKey(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("boot: key: %w", err), "")
	}
	k, err := image.ParseKeyPEM(b)
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("boot: key %s: %w", path, err), "give a PEM public or private key (rampart image keygen / getpub)")
	}
	return k, nil
}

func newBootCreateCmd(env *Env) *cobra.Command {
	var mapPath string
	var keyPaths, nextKeyPaths []string
	var fuses int
	var decryptKey string
	cmd := &cobra.Command{
		Use:   "create --map FLASH-MAP --key KEY... [--decrypt-key PRIVATE-KEY] DEVICE-DIR",
		Short: "Create a device: erased flash laid out by a flash map, provisioned keys, zero counters",
		Long: `Create DEVICE-DIR holding a new device: an erased flash file with the geometry of the
flash map (YAML or JSON, see docs/boot.md), the public halves of the keys the bootloader
will trust, and security counters at zero with --fuses rows each (each raise uses one row,
as in one-time-programmable memory). With --decrypt-key the device also holds the private
key that decrypts encrypted images (imgtool --encrypt with its public half; the flash map
needs encrypted_images), kept 0600 as enc-key.pem. Each --next-key is provisioned after
the --key keys as a next release key: its images are refused until an update signed by
a trusted key, carrying the rotation TLV (docs/boot.md §7a), activates it; that rotation
then revokes the signing key once the new key's image is confirmed. DEVICE-DIR must not
exist.`,
		Example: `  rampart boot create --map flash-map.yaml --key root-ed25519.pem dev/
  rampart boot create --map map.json --key spe-key.pem --key nspe-key.pem --fuses 32 dev/
  rampart boot create --map flash-map.yaml --key release-2026.pem --next-key release-2027.pem dev/`,
		Args: exactArgs(1, "one DEVICE-DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mapPath == "" || len(keyPaths) == 0 {
				return usageError("--map and at least one --key are required")
			}
			cfg, err := boot.LoadConfig(mapPath)
			if err != nil {
				return inputFail(err, "fix the flash map; docs/boot.md describes its fields")
			}
			var dec any
			if decryptKey != "" {
				if dec, err = bootLoadKey(decryptKey); err != nil {
					return err
				}
			}
			var keys []any
			for _, p := range append(append([]string(nil), keyPaths...), nextKeyPaths...) {
				k, err := bootLoadKey(p)
				if err != nil {
					return err
				}
				keys = append(keys, k)
			}
			dir := args[0]
			d, err := boot.CreateDevice(dir, cfg, keys, fuses)
			if errors.Is(err, fs.ErrExist) {
				return fail(ExitError, err, "choose a new directory")
			} else if err != nil {
				return fail(ExitError, err, "")
			}
			defer d.Close()
			var next []int
			for i := range nextKeyPaths {
				next = append(next, len(keyPaths)+i)
			}
			if err := d.ProvisionNextKeys(next...); err != nil {
				return fail(ExitError, err, "")
			}
			if dec != nil {
				if err := d.ProvisionDecryptKey(dec); err != nil {
					return fail(ExitError, err, "give the PEM private key whose public half encrypts the images")
				}
			}
			fmt.Fprintf(env.Stdout, "created %s: %d bytes of flash, %d image(s), %s, %d key(s)\n", dir, d.Flash.Size(), len(cfg.Images), cfg.Strategy, len(keys))
			if len(next) > 0 {
				fmt.Fprintf(env.Stdout, "release keys: %s\n", d.Boot.Counters().KeyStatuses(len(keys)))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mapPath, "map", "", "flash map file (.yaml, .yml or .json)")
	cmd.Flags().StringArrayVarP(&keyPaths, "key", "k", nil, "PEM key the bootloader trusts (repeatable; only the public half is kept)")
	cmd.Flags().StringArrayVar(&nextKeyPaths, "next-key", nil, "PEM key provisioned as a next release key, trusted only after a rotation (repeatable)")
	cmd.Flags().IntVar(&fuses, "fuses", boot.DefaultFuses, "OTP rows per security counter")
	cmd.Flags().StringVar(&decryptKey, "decrypt-key", "", "PEM private key that decrypts encrypted images (kept 0600 in DEVICE-DIR)")
	return cmd
}

func newBootInstallCmd(env *Env) *cobra.Command {
	var index int
	var slotName string
	cmd := &cobra.Command{
		Use:   "install DEVICE-DIR IMAGE",
		Short: "Write an image into a slot, as an update client (or the factory) would",
		Long: `Erase a slot of image --image and write IMAGE (a signed MCUboot image, optionally padded
with --pad or --confirm) at its start. The secondary slot is where updates go; the
primary slot is written only at the factory. Nothing is validated here: the bootloader
validates at the next boot. An image signed with --pad or --confirm already carries its
upgrade request; otherwise use 'rampart boot request'.`,
		Example: `  rampart boot install dev/ --slot primary app-v1.signed.bin
  rampart boot install dev/ app-v2.signed.bin
  rampart boot install dev/ --image 1 ns-v2.signed.bin`,
		Args: exactArgs(2, "DEVICE-DIR and IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s := boot.SlotName(slotName)
			if s != boot.Primary && s != boot.Secondary {
				return usageError("--slot %q: want primary or secondary", slotName)
			}
			data, err := os.ReadFile(args[1])
			if err != nil {
				return fail(ExitError, fmt.Errorf("boot: %w", err), "")
			}
			d, err := openBootDevice(args[0])
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.Boot.Install(index, s, data); err != nil {
				return bootFailure(err)
			}
			fmt.Fprintf(env.Stdout, "installed %s (%d bytes) into image %d's %s slot\n", args[1], len(data), index, s)
			return nil
		},
	}
	cmd.Flags().IntVar(&index, "image", 0, "image index in the flash map")
	cmd.Flags().StringVar(&slotName, "slot", "secondary", "slot: secondary (an update) or primary (factory)")
	return cmd
}

func newBootRequestCmd(env *Env) *cobra.Command {
	var index int
	var test, perm bool
	cmd := &cobra.Command{
		Use:   "request DEVICE-DIR (--test | --permanent)",
		Short: "Ask the next boot to upgrade from the secondary slot (MCUboot's boot_set_pending)",
		Long: `Write the secondary slot's trailer so the next boot upgrades image --image: --test swaps
the image in and reverts at the following boot unless it is confirmed; --permanent
keeps it (and raises the security counter at once).`,
		Example: `  rampart boot request dev/ --test
  rampart boot request dev/ --image 1 --permanent`,
		Args: exactArgs(1, "one DEVICE-DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if test == perm {
				return usageError("give exactly one of --test and --permanent")
			}
			d, err := openBootDevice(args[0])
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.Boot.RequestUpgrade(index, perm); err != nil {
				return bootFailure(err)
			}
			kind := "test"
			if perm {
				kind = "permanent"
			}
			fmt.Fprintf(env.Stdout, "image %d: %s upgrade requested for the next boot\n", index, kind)
			return nil
		},
	}
	cmd.Flags().IntVar(&index, "image", 0, "image index in the flash map")
	cmd.Flags().BoolVar(&test, "test", false, "test upgrade: revert unless confirmed")
	cmd.Flags().BoolVar(&perm, "permanent", false, "permanent upgrade")
	return cmd
}

func newBootConfirmCmd(env *Env) *cobra.Command {
	var index int
	cmd := &cobra.Command{
		Use:   "confirm DEVICE-DIR",
		Short: "Mark the running image good so the next boot keeps it (MCUboot's boot_set_confirmed)",
		Long: `Set image_ok in the primary slot's trailer of image --image, as the running firmware does
once it has checked itself. The next boot then keeps the image instead of reverting it
and raises the security counter to the image's.`,
		Example: `  rampart boot confirm dev/
  rampart boot confirm dev/ --image 1`,
		Args: exactArgs(1, "one DEVICE-DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := openBootDevice(args[0])
			if err != nil {
				return err
			}
			defer d.Close()
			if err := d.Boot.Confirm(index); err != nil {
				return bootFailure(err)
			}
			fmt.Fprintf(env.Stdout, "image %d confirmed\n", index)
			return nil
		},
	}
	cmd.Flags().IntVar(&index, "image", 0, "image index in the flash map")
	return cmd
}

// bootRefusalHint says what to do about an image the bootloader refused.
func bootRefusalHint(err error) string {
	switch {
	case errors.Is(err, boot.ErrNoSecurityCounter):
		return "sign the image with a security counter (rollback protection needs one): rampart image sign ... -s auto (from the version) or -s N"
	case errors.Is(err, boot.ErrRollback):
		return "sign the image with a security counter at least the device's (rampart boot show DEVICE-DIR lists them)"
	case errors.Is(err, boot.ErrUnsigned):
		return "sign the image with a key given to rampart boot create --key (on a fleet device: one of the server's release_keys)"
	case errors.Is(err, boot.ErrDowngrade):
		return "sign the image with a version above the running one"
	}
	return "install a valid image signed by a key the device trusts (rampart boot create --key)"
}

// bootFailure maps a boot package error to an exit code.
func bootFailure(err error) error {
	switch {
	case errors.Is(err, boot.ErrTooLarge), errors.Is(err, boot.ErrUnsupportedRequest), errors.Is(err, boot.ErrNoBootableImage):
		return fail(ExitFailure, err, "")
	case strings.Contains(err.Error(), "image index"), strings.Contains(err.Error(), "slot"):
		return fail(ExitUsage, err, "check --image against the flash map (rampart boot show)")
	}
	return fail(ExitError, err, "")
}
