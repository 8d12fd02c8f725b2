package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"rampart/attest"
)

func init() { register("attest", newAttestCmd) }

func newAttestCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Create and verify PSA attestation tokens (RFC 9783, PSA_IOT_PROFILE_1)",
		Long: `Work with PSA initial attestation tokens: tagged COSE_Sign1 messages whose claims
(nonce, instance ID, implementation ID, client ID, security lifecycle, boot seed,
software components...) a device signs with its attestation key.

Profiles: tag:psacertified.org,2023:psa#tfm (RFC 9783), http://arm.com/psa/2.0.0
(TF-M) and PSA_IOT_PROFILE_1 (legacy). The format and the verification rules are in
docs/attestation-token.md.`,
		Example: `  rampart attest verify --key iak.pub.pem --nonce $NONCE token.cbor
  rampart attest create --key iak.pem --claims claims.json --nonce $NONCE --out token.cbor
  rampart attest endorse iak.pub.pem > endorsements.json`,
		Args: exactArgs(0, "a subcommand (verify, create, endorse)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAttestVerifyCmd(env), newAttestCreateCmd(env), newAttestEndorseCmd(env))
	return cmd
}

// attestMaxInput bounds any file the attest commands read (tokens are at
// most 16 KiB; endorsement lists can be large).
const attestMaxInput = 64 << 20

// attestReadInput reads a file ("-" is standard input), failing with exit 3.
func attestReadInput(env *Env, path, what string) ([]byte, error) {
	r := env.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fail(ExitError, fmt.Errorf("reading %s: %w", what, err), "")
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, attestMaxInput+1))
	if err != nil {
		return nil, fail(ExitError, fmt.Errorf("reading %s: %w", what, err), "")
	}
	if len(b) > attestMaxInput {
		return nil, fail(ExitError, fmt.Errorf("reading %s: larger than %d bytes", what, attestMaxInput), "")
	}
	return b, nil
}

// attestUnhex decodes a token given as hex text (as "attest create --hex"
// writes and RFC 9783 prints). A binary token starts with a CBOR tag byte
// (0xc0..0xdb), never with a hex digit, so the two cannot be confused.
func attestUnhex(b []byte) []byte {
	t := bytes.Join(bytes.Fields(b), nil)
	if len(t) == 0 || len(t)%2 != 0 {
		return b
	}
	d, err := hex.DecodeString(string(t))
	if err != nil {
		return b
	}
	return d
}

// attestNonceFlag decodes a --nonce value: hex of 32, 48 or 64 bytes.
func attestNonceFlag(s string) ([]byte, error) {
	n, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	if err != nil {
		return nil, usageError("--nonce: not hex: %v", err)
	}
	if len(n) != 32 && len(n) != 48 && len(n) != 64 {
		return nil, usageError("--nonce: %d bytes, want 32, 48 or 64 (64, 96 or 128 hex digits)", len(n))
	}
	return n, nil
}

func attestProfileFlag(s string) (attest.Profile, error) {
	switch strings.ToLower(s) {
	case "", "rfc9783", "tfm", strings.ToLower(string(attest.ProfileRFC9783)):
		return attest.ProfileRFC9783, nil
	case "psa2", "psa-2.0.0", string(attest.ProfilePSA2):
		return attest.ProfilePSA2, nil
	case "iot1", "psa_iot_profile_1", "legacy":
		return attest.ProfileIoT1, nil
	}
	return "", usageError("--profile %q: want rfc9783, psa2 or iot1 (or a full profile name)", s)
}

type attestVerifyResult struct {
	Valid                bool           `json:"valid"`
	Error                string         `json:"error,omitempty"`
	Algorithm            string         `json:"algorithm,omitempty"`
	InstanceIDMatchesKey *bool          `json:"instance_id_matches_key,omitempty"`
	Claims               *attest.Claims `json:"claims,omitempty"`
}

func newAttestVerifyCmd(env *Env) *cobra.Command {
	var keyPath, endPath, nonceHex string
	var profiles []string
	var strictID, asJSON bool
	cmd := &cobra.Command{
		Use:   "verify --nonce HEX (--key PUBKEY.pem | --endorsements FILE) TOKEN",
		Short: "Verify a PSA attestation token and print its claims",
		Long: `Verify a PSA attestation token: the tagged COSE_Sign1 envelope, the ES256/ES384/ES512
signature, the nonce, the profile, the syntax of every claim (sizes, mandatory claims),
the instance ID against the key, and the security lifecycle (only "secured" and
"non-PSA-RoT debug" pass). Unknown claims are ignored.

The key is given with --key, or found by the token's instance ID in an endorsement
list (--endorsements; format in docs/attestation-token.md), which also pins the
implementation ID when the endorsement carries one.

With --key, a token whose instance ID is not 0x01||SHA-256(key) is reported with a
warning (RFC 9783's own example carries a placeholder instance ID); add
--strict-instance-id to fail it. TOKEN is binary CBOR or hex text; "-" reads
standard input.

Exit status: 0 the token passes, 1 it fails, 2 usage error, 3 unreadable input.`,
		Example: `  # the RFC 9783 example token (nonce is 32 bytes of 0x01)
  rampart attest verify --key rfc-es-iak.pub.pem \
    --nonce 0101010101010101010101010101010101010101010101010101010101010101 rfc-sign1.cbor

  # find the key by instance ID, print JSON
  rampart attest verify --endorsements fleet.json --nonce $NONCE --json token.cbor`,
		Args: exactArgs(1, "one TOKEN file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			nonce, err := attestNonceFlag(nonceHex)
			if err != nil {
				return err
			}
			if (keyPath == "") == (endPath == "") {
				return usageError("give exactly one of --key and --endorsements")
			}
			opts := attest.VerifyOptions{Nonce: nonce, AllowInstanceIDMismatch: !strictID}
			for _, p := range profiles {
				pr, err := attestProfileFlag(p)
				if err != nil {
					return err
				}
				opts.Profiles = append(opts.Profiles, pr)
			}
			if keyPath != "" {
				b, err := attestReadInput(env, keyPath, "the key")
				if err != nil {
					return err
				}
				if opts.Key, err = attest.ParsePublicKeyPEM(b); err != nil {
					return fail(ExitError, fmt.Errorf("%s: %w", keyPath, err), "--key takes an ECDSA P-256/P-384/P-521 public key (or private key) in PEM")
				}
			} else {
				b, err := attestReadInput(env, endPath, "the endorsements")
				if err != nil {
					return err
				}
				l, err := attest.ReadEndorsements(bytes.NewReader(b))
				if err != nil {
					return fail(ExitError, fmt.Errorf("%s: %w", endPath, err), "see docs/attestation-token.md for the endorsement list format")
				}
				opts.Lookup = l.Lookup
			}
			tok, err := attestReadInput(env, args[0], "the token")
			if err != nil {
				return err
			}
			tok = attestUnhex(tok)
			claims, verr := attest.Verify(tok, opts)
			res := attestVerifyResult{Valid: verr == nil, Claims: claims}
			if verr != nil {
				res.Error = verr.Error()
			} else {
				if t, err := attest.Parse(tok); err == nil {
					res.Algorithm = t.Algorithm.String()
				}
				if opts.Key != nil {
					id, err := attest.InstanceID(opts.Key)
					match := err == nil && bytes.Equal(id, claims.InstanceID)
					res.InstanceIDMatchesKey = &match
					if !match {
						fmt.Fprintf(env.Stderr, "warning: the token's instance ID is not 0x01||SHA-256 of the key (%x); pass --strict-instance-id to reject such tokens\n", id)
					}
				}
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return fail(ExitError, err, "")
				}
			} else if verr == nil {
				attestPrintClaims(env.Stdout, res)
			}
			if verr != nil {
				return fail(ExitFailure, verr, attestHint(verr))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&keyPath, "key", "k", "", "attestation public key (PEM)")
	f.StringVar(&endPath, "endorsements", "", "endorsement list (JSON) to find the key by instance ID")
	f.StringVar(&nonceHex, "nonce", "", "expected nonce in hex: 32, 48 or 64 bytes (required)")
	f.StringSliceVar(&profiles, "profile", nil, "accept only these profiles: rfc9783, psa2, iot1 (repeatable; default all)")
	f.BoolVar(&strictID, "strict-instance-id", false, "with --key, fail a token whose instance ID is not the key's hash")
	f.BoolVar(&asJSON, "json", false, "print the result and claims as JSON")
	_ = cmd.MarkFlagRequired("nonce")
	return cmd
}

func attestHint(err error) string {
	switch {
	case errors.Is(err, attest.ErrSignature):
		return "the token was not signed by this key (or was altered)"
	case errors.Is(err, attest.ErrNonce):
		return "pass the challenge the device was given with --nonce"
	case errors.Is(err, attest.ErrEnvelope):
		return "a PSA token is a tagged COSE_Sign1 (first byte 0xd2)"
	case errors.Is(err, attest.ErrUnknownKey):
		return "add the device's endorsement to the list, or pass its key with --key"
	}
	return ""
}

func attestPrintClaims(w io.Writer, r attestVerifyResult) {
	c := r.Claims
	fmt.Fprintf(w, "token verified (%s)\n", r.Algorithm)
	row := func(k, v string) { fmt.Fprintf(w, "  %-32s %s\n", k, v) }
	row("profile", string(c.Profile))
	row("nonce", hex.EncodeToString(c.Nonce))
	id := hex.EncodeToString(c.InstanceID)
	if r.InstanceIDMatchesKey != nil && !*r.InstanceIDMatchesKey {
		id += " (not the key's hash)"
	}
	row("instance-id", id)
	row("implementation-id", hex.EncodeToString(c.ImplementationID))
	domain := "secure"
	if c.ClientID < 0 {
		domain = "non-secure"
	}
	row("client-id", fmt.Sprintf("%d (%s)", c.ClientID, domain))
	row("security-lifecycle", fmt.Sprintf("0x%04x %s", uint16(c.Lifecycle), c.Lifecycle))
	if len(c.BootSeed) > 0 {
		row("boot-seed", hex.EncodeToString(c.BootSeed))
	}
	if c.CertificationReference != "" {
		row("certification-reference", c.CertificationReference)
	}
	if c.VerificationService != "" {
		row("verification-service-indicator", c.VerificationService)
	}
	if c.NoSoftwareMeasurements {
		row("no-software-measurements", "yes")
	}
	for i, s := range c.SoftwareComponents {
		fmt.Fprintf(w, "  software-component[%d]\n", i)
		sub := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "    %-30s %s\n", k, v)
			}
		}
		sub("measurement-type", s.MeasurementType)
		sub("version", s.Version)
		sub("measurement-value", hex.EncodeToString(s.MeasurementValue))
		sub("signer-id", hex.EncodeToString(s.SignerID))
		sub("measurement-description", s.MeasurementDescription)
	}
}
