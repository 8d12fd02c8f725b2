package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"rampart/fleet"
)

func init() { register("server", newServerCmd) }

func newServerCmd(env *Env) *cobra.Command {
	var (
		config      string
		checkConfig bool
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the fleet server: attestation-gated enrollment, MQTT over mutual TLS, telemetry, admin API",
		Long: `Run Rampart's fleet server from one configuration file (examples/fleet/server.yaml).

It admits a device only when its PSA attestation token verifies against the endorsed
attestation key, binds the server's nonce to the CSR key, shows a trustworthy lifecycle
and measures only registered releases; it then issues a short-lived certificate from
the fleet CA, whose key stays encrypted at rest under the passphrase in the environment
variable the config names (default RAMPART_CA_PASSPHRASE). The protocol is in
docs/fleet-enrollment.md, the admin API in docs/fleet-admin-api.md.

SIGINT or SIGTERM shut the server down gracefully (requests in flight finish, queued
telemetry is committed).`,
		Example: `  rampart server --config /etc/rampart/server.yaml --check-config
  RAMPART_CA_PASSPHRASE=... rampart server --config /etc/rampart/server.yaml
  rampart server token --name ops --role operator`,
		Args: exactArgs(0, "no arguments (use --config)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usageError("--config is required")
			}
			cfg, err := fleet.LoadConfig(config)
			if err != nil {
				return fail(ExitFailure, err, "fix the configuration file; see examples/fleet/server.yaml")
			}
			if checkConfig {
				fmt.Fprintf(env.Stdout, "%s: configuration OK (store %s, enroll %s, admin %s, mqtt %s)\n", config, redactDSN(cfg.Database), cfg.Listen.Enroll, cfg.Listen.Admin, cfg.Listen.MQTT)
				return nil
			}
			srv, err := fleet.New(cfg, fleet.Options{Rand: rand.Reader, LogOutput: env.Stderr, Passphrase: passphraseFromEnv(env, cfg.CA.PassphraseEnv)})
			if err != nil {
				return fail(ExitError, err, "")
			}
			if err := srv.Start(); err != nil {
				srv.Shutdown(context.Background())
				return fail(ExitError, err, "")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&checkConfig, "check-config", false, "validate the configuration and exit (0 valid, 1 invalid)")
	cmd.AddCommand(newServerTokenCmd(env))
	return cmd
}

func passphraseFromEnv(env *Env, name string) []byte {
	if v := env.Getenv(name); v != "" {
		return []byte(v)
	}
	return nil
}

// redactDSN hides a password in a database URL.
func redactDSN(dsn string) string {
	if len(dsn) > 11 && (dsn[:11] == "postgres://" || len(dsn) > 13 && dsn[:13] == "postgresql://") {
		return "postgresql (URL not shown)"
	}
	return dsn
}

func newServerTokenCmd(env *Env) *cobra.Command {
	var name, role string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make a new admin API token and the config entry holding its SHA-256",
		Long: `Print a fresh random API token (give it to the caller, once) and the api_tokens
entry for the server configuration, which stores only the token's SHA-256.`,
		Example: `  rampart server token --name ci --role viewer`,
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			switch role {
			case "viewer", "operator", "admin":
			default:
				return usageError("--role %q: want viewer, operator or admin", role)
			}
			if name == "" {
				return usageError("--name is required")
			}
			b := make([]byte, 32)
			rand.Read(b)
			tok := base64.RawURLEncoding.EncodeToString(b)
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(map[string]string{"token": tok, "name": name, "role": role, "sha256": fleet.TokenSHA256(tok)})
			}
			fmt.Fprintf(env.Stdout, "token: %s\nconfig entry:\n  - {name: %s, role: %s, sha256: %s}\n", tok, name, role, fleet.TokenSHA256(tok))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "token name (shown in the audit log)")
	cmd.Flags().StringVar(&role, "role", "viewer", "viewer, operator or admin")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
