package cli

import (
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"rampart/attest"
	"rampart/boot"
	"rampart/spe/audit"
	"rampart/spe/platform"
	"rampart/spe/provision"
	"rampart/spe/rot"
)

func init() {
	speSubcommands = append(speSubcommands, newSpeProvisionCmd, newSpeEndorsementCmd)
}

// speOpenPlatform opens the SPE of a state directory in this process, on the
// device directory when one is given (which boots it).
func speOpenPlatform(stateDir, deviceDir string, tpm *rot.TPM) (*platform.Platform, func(), error) {
	if stateDir == "" {
		return nil, nil, usageError("give --state-dir")
	}
	var dev *boot.Device
	if deviceDir != "" {
		var err error
		if dev, err = platform.OpenDevice(deviceDir); err != nil {
			return nil, nil, fail(ExitError, err, "is "+deviceDir+" a device made by `rampart boot create`?")
		}
	}
	p, err := platform.Open(platform.Options{StateDir: stateDir, Device: dev, RoT: tpm})
	if err != nil {
		if dev != nil {
			dev.Close()
		}
		if errors.Is(err, audit.ErrTampered) {
			return nil, nil, fail(ExitFailure, err, "the audit log was edited, truncated or rolled back: the SPE refuses to continue it")
		}
		return nil, nil, fail(ExitError, err, "check the state directory (the SPE's own, mode 0700) and that the device boots (rampart boot run)")
	}
	return p, func() {
		p.Close()
		if dev != nil {
			dev.Close()
		}
	}, nil
}

// speProvisionSummary is the --json output of provision.
type speProvisionSummary struct {
	InstanceID       string   `json:"instance_id"`
	ImplementationID string   `json:"implementation_id"`
	Lifecycle        string   `json:"lifecycle"`
	Endorsements     string   `json:"endorsements"`
	Signed           string   `json:"signed_endorsements"`
	BootKeys         []string `json:"boot_keys,omitempty"`
}

func newSpeProvisionCmd(env *Env) *cobra.Command {
	var stateDir, deviceDir, implHex, certRef, mfrPath, mfrName, outPath, signedPath, comment, rotSpec string
	var bootKeys, nextBootKeys []string
	var p384, asJSON, reissue bool
	cmd := &cobra.Command{
		Use:   "provision --state-dir DIR --implementation-id HEX --manufacturer-key KEY.pem --endorsement OUT.json",
		Short: "Factory provisioning: generate the HUK and attestation key in the SPE, move to secured, write a signed endorsement",
		Long: `Provision a device's SPE (docs/spe-services.md): the hardware unique key and the initial
attestation key (P-256, or P-384 with --p384) are generated inside the SPE and never leave it;
the implementation ID and the certification reference are recorded; the boot verification
keys (--boot-key, repeatable) are installed in the bootloader device directory (--device),
then the next release keys (--next-boot-key, repeatable), pending in the device's OTP block
until an update signed by a trusted key activates them (docs/boot.md section 7a);
the lifecycle moves from assembly-and-test through psa-rot-provisioning to secured.

The endorsement (instance ID, implementation ID, attestation public key) is written in the
endorsement list format that 'rampart attest verify --endorsements' reads, and the same bytes
signed by the manufacturer key (--signed, default OUT.json.cose) in Rampart's one signed
endorsement format: a tagged COSE_Sign1, content type application/json, --manufacturer as
the protected kid (docs/fleet-enrollment.md section 7). A fleet server imports that file as
it is ('rampart fleet endorsements import'); 'rampart spe endorsement verify' checks it.

--reissue writes the endorsement of a device that is already provisioned again (for a run
cut by a power failure after the device reached secured); it changes nothing in the device.

Exit codes: 0 provisioned, 1 the device is not in a provisioning state, 2 usage, 3 I/O.`,
		Example: `  rampart spe provision --state-dir /var/lib/rampart/spe --device dev \
      --implementation-id $(openssl rand -hex 32) --boot-key boot.pub.pem \
      --manufacturer-key mfr.pem --manufacturer acme --endorsement device.endorsement.json
  rampart attest verify --endorsements device.endorsement.json --nonce $NONCE token.cbor
  rampart fleet endorsements import device.endorsement.json.cose`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			impl, err := hex.DecodeString(implHex)
			if err != nil || len(impl) != attest.ImplementationIDLen {
				return usageError("--implementation-id must be %d bytes of hex", attest.ImplementationIDLen)
			}
			if mfrPath == "" || outPath == "" {
				return usageError("give --manufacturer-key and --endorsement")
			}
			if signedPath == "" {
				signedPath = outPath + ".cose"
			}
			mfr, closeMfr, err := manufacturerSigner(mfrPath, "--manufacturer-key")
			if err != nil {
				return err
			}
			defer closeMfr()
			keys, err := speReadFiles(bootKeys)
			if err != nil {
				return err
			}
			next, err := speReadFiles(nextBootKeys)
			if err != nil {
				return err
			}
			if len(keys)+len(next) > 0 && deviceDir == "" {
				return usageError("--boot-key and --next-boot-key need --device")
			}
			tpm, err := speOpenRoT(env, rotSpec)
			if err != nil {
				return err
			}
			if tpm != nil {
				defer tpm.Close()
			}
			p, done, err := speOpenPlatformNoBoot(stateDir, tpm)
			if err != nil {
				return err
			}
			defer done()
			curve := elliptic.P256()
			if p384 {
				curve = elliptic.P384()
			}
			popt := provision.Options{ImplementationID: impl, CertificationReference: certRef, Curve: curve,
				BootKeys: keys, NextBootKeys: next, DeviceDir: deviceDir, Manufacturer: mfr, ManufacturerName: mfrName, Comment: comment}
			run := provision.Run
			if reissue {
				run = provision.Reissue
			}
			res, err := run(p, popt)
			if errors.Is(err, provision.ErrState) {
				return fail(ExitFailure, err, "a device is provisioned once; decommissioned devices cannot be provisioned again")
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			if err := os.WriteFile(outPath, res.List, 0o644); err != nil {
				return fail(ExitError, err, "")
			}
			if err := os.WriteFile(signedPath, res.Signed, 0o644); err != nil {
				return fail(ExitError, err, "")
			}
			sum := speProvisionSummary{
				InstanceID: hex.EncodeToString(res.Endorsement.InstanceID), ImplementationID: implHex,
				Lifecycle: p.Lifecycle.State().String(), Endorsements: outPath, Signed: signedPath, BootKeys: res.BootKeyFiles,
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			fmt.Fprintf(env.Stdout, "provisioned: instance ID %s, lifecycle %s\nendorsement: %s (signed: %s)\n",
				sum.InstanceID, sum.Lifecycle, outPath, signedPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&stateDir, "state-dir", "", "the SPE's state directory")
	f.StringVar(&deviceDir, "device", "", "bootloader device directory (rampart boot create) to install boot keys in")
	f.StringVar(&implHex, "implementation-id", "", "implementation ID (32 bytes, hex)")
	f.StringVar(&certRef, "cert-ref", "", "PSA Certified reference (EAN-13+5, e.g. 0604565272829-10010)")
	f.StringArrayVar(&bootKeys, "boot-key", nil, "boot verification public key (PEM); repeatable")
	f.StringArrayVar(&nextBootKeys, "next-boot-key", nil, "next release public key (PEM), pending until a rotation; repeatable")
	speRoTFlag(f, &rotSpec)
	f.StringVar(&mfrPath, "manufacturer-key", "", "manufacturer signing key: an ECDSA PEM file or a pkcs11: URI")
	f.StringVar(&mfrName, "manufacturer", "", "manufacturer name, written as the signed endorsement's kid (optional)")
	f.StringVar(&outPath, "endorsement", "", "write the endorsement list (JSON) here")
	f.StringVar(&signedPath, "signed", "", "write the manufacturer-signed endorsement (COSE_Sign1) here")
	f.StringVar(&comment, "comment", "", "comment stored in the endorsement")
	f.BoolVar(&p384, "p384", false, "make a P-384 attestation key (ES384 tokens)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&reissue, "reissue", false, "only write the endorsement of an already provisioned device again")
	return cmd
}

// speOpenPlatformNoBoot opens the platform without a device: provisioning
// does not boot anything.
func speOpenPlatformNoBoot(stateDir string, tpm *rot.TPM) (*platform.Platform, func(), error) {
	if stateDir == "" {
		return nil, nil, usageError("give --state-dir")
	}
	p, err := platform.Open(platform.Options{StateDir: stateDir, RoT: tpm})
	if err != nil {
		return nil, nil, fail(ExitError, err, "check the state directory (the SPE's own, mode 0700) and that the device boots (rampart boot run)")
	}
	return p, func() { p.Close() }, nil
}

func newSpeEndorsementCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endorsement",
		Short:   "Check manufacturer-signed endorsements written by 'rampart spe provision'",
		Example: `  rampart spe endorsement verify --manufacturer-key mfr.pub.pem device.endorsement.json.cose > list.json`,
	}
	var keyPath string
	verify := &cobra.Command{
		Use:   "verify --manufacturer-key PUB.pem SIGNED",
		Short: "Verify a signed endorsement list and print the list (the --endorsements format)",
		Long: `Verify the manufacturer's COSE_Sign1 over an endorsement list and print the list on
stdout, ready for 'rampart attest verify --endorsements'. Exit 0 verified, 1 not.`,
		Example: `  rampart spe endorsement verify --manufacturer-key mfr.pub.pem dev.json.cose > fleet.json`,
		Args:    exactArgs(1, "the signed endorsement file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return usageError("give --manufacturer-key")
			}
			kb, err := os.ReadFile(keyPath)
			if err != nil {
				return fail(ExitError, err, "")
			}
			pub, err := attest.ParsePublicKeyPEM(kb)
			if err != nil {
				return fail(ExitError, err, "")
			}
			signed, err := attestReadInput(env, args[0], "the signed endorsements")
			if err != nil {
				return err
			}
			s, err := attest.VerifySignedEndorsements(signed, pub)
			if errors.Is(err, attest.ErrSignature) {
				return fail(ExitFailure, err, "the file was not signed by this manufacturer key, or was altered")
			}
			if err != nil {
				return fail(ExitFailure, err, "")
			}
			if s.KeyID != "" {
				fmt.Fprintf(env.Stderr, "signed by %q\n", s.KeyID)
			}
			_, err = env.Stdout.Write(s.Payload)
			return err
		},
	}
	verify.Flags().StringVar(&keyPath, "manufacturer-key", "", "manufacturer public key (PEM)")
	cmd.AddCommand(verify)
	return cmd
}

// speReadFiles reads each file whole.
func speReadFiles(paths []string) ([][]byte, error) {
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fail(ExitError, err, "")
		}
		out = append(out, b)
	}
	return out, nil
}
