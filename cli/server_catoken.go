package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"rampart/fleet"
	"rampart/fleet/ca"
	"rampart/hsm"
)

func newServerCAToTokenCmd(env *Env) *cobra.Command {
	var config, to string
	cmd := &cobra.Command{
		Use:   "ca-to-token --config FILE --to pkcs11:URI",
		Short: "Move the fleet CA key from its encrypted file into a PKCS#11 token (HSM)",
		Long: `Open data_dir/ca.key.enc with the passphrase in ca.passphrase_env and create the key in the
token the URI names (object= is its label), as a key the token will not let out. The key is
decrypted in memory only, never written in plain form. The token's key is then checked against
data_dir/ca.crt, so the fleet's CA certificate, and every device certificate, stays valid.

Then set ca.key to the same URI in the configuration, restart the server, and destroy
ca.key.enc and its backups (the passphrase still keys the secrets the server derives: keep it).
A single node only: the nodes of a cluster keep the CA in the store. See docs/roots-of-trust.md.`,
		Example: `  rampart server ca-to-token --config /etc/rampart/server.yaml \
    --to 'pkcs11:token=fleet;object=fleet-ca?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/rampart/hsm.pin'`,
		Args: exactArgs(0, "no arguments (use --config and --to)"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if config == "" || to == "" {
				return usageError("--config and --to are required")
			}
			cfg, err := fleet.LoadConfig(config)
			if err != nil {
				return inputFail(err, "fix the configuration file; see examples/fleet/server.yaml")
			}
			if cfg.Clustered() {
				return usageError("the CA of a cluster is kept in the store: ca-to-token is for a single node")
			}
			pass := passphraseFromEnv(env, cfg.CA.PassphraseEnv)
			if pass == nil {
				return usageError("set %s to the CA passphrase", cfg.CA.PassphraseEnv)
			}
			return caToToken(env, cfg, pass, to)
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().StringVar(&to, "to", "", "the pkcs11: URI of the key to create (token, object, module-path, pin-source)")
	return cmd
}

func caToToken(env *Env, cfg *fleet.Config, pass []byte, to string) error {
	keyPath := filepath.Join(cfg.DataDir, ca.KeyFile)
	enc, err := os.ReadFile(keyPath)
	if err != nil {
		return fail(ExitError, err, "ca-to-token moves an existing file CA; a new server with ca.key set makes its CA in the token itself")
	}
	key, err := ca.DecryptKey(enc, pass)
	if errors.Is(err, ca.ErrPassphrase) {
		return fail(ExitFailure, err, cfg.CA.PassphraseEnv+" must hold the CA passphrase")
	}
	if err != nil {
		return fail(ExitError, err, "")
	}
	if err := hsm.ImportECDSA(to, key); err != nil {
		return hsmFail("--to", err)
	}
	k, err := hsmOpen(to, "--to")
	if err != nil {
		return err
	}
	defer k.Close()
	if _, err := ca.OpenExternal(cfg.DataDir, k, pass, ca.Options{Rand: rand.Reader}); err != nil {
		return fail(ExitError, fmt.Errorf("the key in the token does not open the CA: %w", err), "")
	}
	fmt.Fprintf(env.Stdout, "the CA key is in the token: set ca.key to\n  %s\nin %s's configuration, restart the server, then destroy %s and its backups\n", k.URI(), cfg.DataDir, keyPath)
	return nil
}
