package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"rampart/attest"
)

func newAttestCreateCmd(env *Env) *cobra.Command {
	var keyPath, claimsPath, nonceHex, profile, out string
	var asHex bool
	cmd := &cobra.Command{
		Use:   "create --key PRIVKEY.pem --claims CLAIMS.json --out TOKEN",
		Short: "Sign a claims file into a PSA attestation token (for tests)",
		Long: `Create a PSA attestation token from a claims file (the JSON form printed by
"rampart attest verify --json", see docs/attestation-token.md) signed with an ECDSA
key: ES256 for P-256, ES384 for P-384, ES512 for P-521.

An absent instance-id is computed from the key (0x01||SHA-256 of the public point).
--nonce and --profile override the file. This stands in for a device in tests; a
real device signs inside its SPE with a key that never leaves it.`,
		Example: `  rampart attest create --key iak.pem --claims claims.json \
    --nonce $(openssl rand -hex 32) --profile iot1 --out token.cbor
  rampart attest verify --key iak.pem --nonce $NONCE token.cbor`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keyPath == "" || claimsPath == "" || out == "" {
				return usageError("--key, --claims and --out are required")
			}
			var c attest.Claims
			b, err := attestReadInput(env, claimsPath, "the claims")
			if err != nil {
				return err
			}
			if err := c.UnmarshalJSON(b); err != nil {
				return fail(ExitError, fmt.Errorf("%s: %w", claimsPath, err), "")
			}
			if nonceHex != "" {
				if c.Nonce, err = attestNonceFlag(nonceHex); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("profile") {
				if c.Profile, err = attestProfileFlag(profile); err != nil {
					return err
				}
			}
			kb, err := attestReadInput(env, keyPath, "the key")
			if err != nil {
				return err
			}
			key, err := attest.ParsePrivateKeyPEM(kb)
			if err != nil {
				return fail(ExitError, fmt.Errorf("%s: %w", keyPath, err), "--key takes an ECDSA private key in PEM")
			}
			tok, err := attest.Sign(&c, key, rand.Reader)
			if err != nil {
				return fail(ExitFailure, err, "fix the claims file: docs/attestation-token.md lists each claim's syntax")
			}
			if asHex {
				tok = []byte(hex.EncodeToString(tok) + "\n")
			}
			if out == "-" {
				_, err = env.Stdout.Write(tok)
			} else {
				err = os.WriteFile(out, tok, 0o644)
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&keyPath, "key", "k", "", "attestation private key (PEM: PKCS#8 or SEC1)")
	f.StringVar(&claimsPath, "claims", "", "claims file (JSON)")
	f.StringVar(&nonceHex, "nonce", "", "nonce in hex (32, 48 or 64 bytes), overrides the claims file")
	f.StringVar(&profile, "profile", "", "rfc9783, psa2 or iot1, overrides the claims file")
	f.StringVarP(&out, "out", "o", "", `token output file ("-" for standard output)`)
	f.BoolVar(&asHex, "hex", false, "write the token as hex text")
	return cmd
}

func newAttestEndorseCmd(env *Env) *cobra.Command {
	var implHex, comment, listPath string
	cmd := &cobra.Command{
		Use:   "endorse PUBKEY.pem...",
		Short: "Write an endorsement list (instance ID to key) for --endorsements",
		Long: `Print an endorsement list with one entry per key: the instance ID computed from the
key, the key, and optionally the implementation ID its tokens must carry. With
--list, the entries are added to an existing list, which is printed whole.

The list is unsigned: a fleet server imports it only signed by a manufacturer key
('rampart fleet endorsements sign', the same COSE_Sign1 'rampart spe provision' writes).`,
		Example: `  rampart attest endorse --implementation-id $IMPL dev1.pub.pem dev2.pub.pem > fleet.json
  rampart attest verify --endorsements fleet.json --nonce $NONCE token.cbor
  rampart fleet endorsements sign --key mfr.pem --manufacturer acme --out fleet.cose fleet.json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("%s takes one or more PUBKEY.pem files", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var impl []byte
			if implHex != "" {
				var err error
				if impl, err = hex.DecodeString(implHex); err != nil || len(impl) != attest.ImplementationIDLen {
					return usageError("--implementation-id: want %d bytes in hex", attest.ImplementationIDLen)
				}
			}
			l := &attest.EndorsementList{}
			if listPath != "" {
				b, err := attestReadInput(env, listPath, "the endorsements")
				if err != nil {
					return err
				}
				if l, err = attest.ReadEndorsements(bytes.NewReader(b)); err != nil {
					return fail(ExitError, fmt.Errorf("%s: %w", listPath, err), "")
				}
			}
			for _, p := range args {
				b, err := attestReadInput(env, p, "the key")
				if err != nil {
					return err
				}
				k, err := attest.ParsePublicKeyPEM(b)
				if err != nil {
					return fail(ExitError, fmt.Errorf("%s: %w", p, err), "")
				}
				if err := l.Add(attest.Endorsement{PublicKey: k, ImplementationID: impl, Comment: comment}); err != nil {
					return fail(ExitError, fmt.Errorf("%s: %w", p, err), "")
				}
			}
			if err := l.WriteJSON(env.Stdout); err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&implHex, "implementation-id", "", "implementation ID (hex, 32 bytes) the tokens must carry")
	cmd.Flags().StringVar(&comment, "comment", "", "comment stored with each entry")
	cmd.Flags().StringVar(&listPath, "list", "", "existing endorsement list to add to")
	return cmd
}
