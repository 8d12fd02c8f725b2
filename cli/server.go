package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"rampart/fleet"
	"rampart/fleet/ca"
	"rampart/fleet/cluster"
	"rampart/fleet/store"
)

func init() { register("server", newServerCmd) }

func newServerCmd(env *Env) *cobra.Command {
	var (
		config      string
		checkConfig bool
		offline     bool
		// drainTimeout bounds the drain on SIGTERM.
		drainTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the fleet server: attestation-gated enrollment, MQTT over mutual TLS, telemetry, admin API",
		Long: `Run Rampart's fleet server from one configuration file (examples/fleet/server.yaml).
--check-config validates the file, connects to the database and checks its schema version
(changing nothing), checks that the NATS servers of a cluster: section answer with JetStream,
and exits: 0 valid, 1 invalid; --offline skips the database and NATS.

It admits a device only when its PSA attestation token verifies against the endorsed
attestation key, binds the server's nonce to the CSR key, shows a trustworthy lifecycle
and measures only registered releases; it then issues a short-lived certificate from
the fleet CA, whose key stays encrypted at rest under the passphrase in the environment
variable the config names (default RAMPART_CA_PASSPHRASE). The protocol is in
docs/fleet-enrollment.md, the admin API in docs/fleet-admin-api.md.

SIGINT or SIGTERM drain the server and exit 0 (docs/fleet-server.md, "Draining and
health"): /readyz answers 503 at once, no new connection is accepted, requests in flight
finish, every telemetry message read is committed and acknowledged, MQTT 5 devices are
told to use another server (DISCONNECT 0x9C) and MQTT 3.1.1 connections closed, then the
rest stops; --drain-timeout bounds it all (then exit 3). /livez and /readyz on the admin
listener serve load balancers.`,
		Example: `  rampart server --config /etc/rampart/server.yaml --check-config
  rampart server --config server.yaml --check-config --offline   # the file alone, on a build machine
  RAMPART_CA_PASSPHRASE=... rampart server --config /etc/rampart/server.yaml
  rampart server token --name ops --role operator`,
		Args: exactArgs(0, "no arguments (use --config)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" {
				return usageError("--config is required")
			}
			cfg, err := fleet.LoadConfig(config)
			if err != nil {
				return inputFail(err, "fix the configuration file; see examples/fleet/server.yaml")
			}
			if checkConfig {
				fmt.Fprintf(env.Stdout, "%s: configuration OK (store %s, enroll %s, admin %s, mqtt %s)\n", config, redactDSN(cfg.Database), cfg.Listen.Enroll, cfg.Listen.Admin, cfg.Listen.MQTT)
				if offline {
					fmt.Fprintln(env.Stdout, "store: not checked (--offline)")
					return nil
				}
				if err := checkStore(env, cfg.Database); err != nil {
					return err
				}
				return checkCluster(env, cfg)
			}
			// Registered first: a SIGTERM during start-up drains the
			// server once it has started, rather than killing it.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := fleet.New(cfg, fleet.Options{Rand: rand.Reader, LogOutput: env.Stderr, Passphrase: passphraseFromEnv(env, cfg.CA.PassphraseEnv)})
			if err != nil {
				return fail(ExitError, err, "")
			}
			if err := srv.Start(); err != nil {
				srv.Shutdown(context.Background())
				return fail(ExitError, err, "")
			}
			// The start-up log line names the CA certificate clients need
			// as --ca (fleet.Server.CACertFile).
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			if err := srv.Drain(sctx); err != nil {
				return fail(ExitError, err, "the drain did not finish within --drain-timeout: raise it, or look for a stalled store")
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "configuration file (YAML)")
	cmd.Flags().BoolVar(&checkConfig, "check-config", false, "validate the configuration and the database (reachable, schema not newer than this build) and exit (0 valid, 1 invalid)")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM or SIGINT: the longest the drain may take before the server stops anyway")
	cmd.Flags().BoolVar(&offline, "offline", false, "with --check-config: validate the file only, do not connect to the database")
	cmd.AddCommand(newServerTokenCmd(env), newServerCAPassphraseCmd(env), newServerCAToTokenCmd(env))
	return cmd
}

func passphraseFromEnv(env *Env, name string) []byte {
	if v := env.Getenv(name); v != "" {
		return []byte(v)
	}
	return nil
}

// checkStore is --check-config's database part: connect as the server
// would and read the schema version, changing nothing (a missing SQLite
// file is not created).
func checkStore(env *Env, dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, err := store.CheckSchema(ctx, dsn)
	switch {
	case errors.Is(err, store.ErrSchemaNewer):
		return fail(ExitFailure, err, "this binary is older than the one that last ran on this database: run the newer one")
	case err != nil:
		return fail(ExitFailure, err, "check the database setting and that the database is reachable (--offline checks the file alone)")
	case !st.Exists:
		fmt.Fprintf(env.Stdout, "store: %s does not exist yet: created and migrated to schema %d at first start\n", redactDSN(dsn), st.Want)
	case st.Version == 0:
		fmt.Fprintf(env.Stdout, "store: reachable, no schema yet: created at first start (schema %d)\n", st.Want)
	case st.Version < st.Want:
		fmt.Fprintf(env.Stdout, "store: schema version %d; the server migrates it to %d at start\n", st.Version, st.Want)
	default:
		fmt.Fprintf(env.Stdout, "store: schema version %d (current)\n", st.Version)
	}
	return nil
}

// changeStoredCAPassphrase re-encrypts the CA key a cluster keeps in its
// store (a conditional update: a concurrent change fails it).
func changeStoredCAPassphrase(dsn string, oldPass, newPass []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	certPEM, keyPEM, err := db.FleetCA(ctx)
	if err != nil {
		return fmt.Errorf("the cluster's CA: %w", err)
	}
	enc, err := ca.Reencrypt(certPEM, keyPEM, oldPass, newPass, rand.Reader)
	if err != nil {
		return err
	}
	return db.ReplaceFleetCAKey(ctx, keyPEM, enc)
}

// checkCluster is --check-config's NATS part, for a cluster: section:
// one of the servers answers and JetStream is available there.
func checkCluster(env *Env, cfg *fleet.Config) error {
	if !cfg.Clustered() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	srv, err := cluster.Check(ctx, cfg.Cluster.NATS, cfg.Cluster.NATSAuth())
	if err != nil {
		return fail(ExitFailure, err, "check cluster.nats, cluster.auth and cluster.tls, and that the NATS servers run with JetStream enabled")
	}
	fmt.Fprintf(env.Stdout, "cluster: node %s of %s; NATS reachable at %s, JetStream available\n", cfg.Cluster.Node, cfg.Cluster.Name, srv)
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

// caNewPassphraseEnv names the variable holding the new CA passphrase for
// server ca-passphrase (the current one is in ca.passphrase_env).
const caNewPassphraseEnv = "RAMPART_CA_NEW_PASSPHRASE"

func newServerCAPassphraseCmd(env *Env) *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "ca-passphrase --config FILE",
		Short: "Re-encrypt the CA key under a new passphrase",
		Long: `Re-encrypt data_dir/ca.key.enc under the passphrase in ` + caNewPassphraseEnv + `, opening it
with the current one from the variable ca.passphrase_env names. The new passphrase must have
at least 16 characters, 8 of them different (openssl rand -base64 24 makes one). The key file
is replaced whole (mode 0600); a running server keeps its key in memory and needs the new
passphrase at its next start. With a cluster: section the key is the one in the store that every
node shares: it is re-encrypted there, and every node needs the new passphrase at its next start.
Exit 1 when the current passphrase is wrong or the new one too weak.`,
		Example: `  RAMPART_CA_PASSPHRASE=old RAMPART_CA_NEW_PASSPHRASE="$(openssl rand -base64 24)" \
    rampart server ca-passphrase --config /etc/rampart/server.yaml`,
		Args: exactArgs(0, "no arguments (use --config)"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if config == "" {
				return usageError("--config is required")
			}
			cfg, err := fleet.LoadConfig(config)
			if err != nil {
				return inputFail(err, "fix the configuration file; see examples/fleet/server.yaml")
			}
			oldPass, newPass := passphraseFromEnv(env, cfg.CA.PassphraseEnv), passphraseFromEnv(env, caNewPassphraseEnv)
			if oldPass == nil || newPass == nil {
				return usageError("set %s to the current passphrase and %s to the new one", cfg.CA.PassphraseEnv, caNewPassphraseEnv)
			}
			if cfg.CA.Key != "" {
				return fail(ExitError, errors.New("ca.key names a key in a PKCS#11 token: there is no key file to re-encrypt"),
					"with a token CA the passphrase keys the secrets the server derives (campaign download keys): changing it is not supported yet")
			}
			where := cfg.DataDir
			if cfg.Clustered() {
				where = "the cluster's store (every node)"
				err = changeStoredCAPassphrase(cfg.Database, oldPass, newPass)
			} else {
				err = ca.ChangePassphrase(cfg.DataDir, oldPass, newPass, rand.Reader)
			}
			switch {
			case errors.Is(err, ca.ErrWeakPassphrase):
				return fail(ExitFailure, err, "generate one: openssl rand -base64 24")
			case errors.Is(err, ca.ErrPassphrase):
				return fail(ExitFailure, err, cfg.CA.PassphraseEnv+" must hold the current passphrase")
			case err != nil:
				return fail(ExitError, err, "")
			}
			fmt.Fprintf(env.Stdout, "%s: CA key re-encrypted; start the server with the new passphrase in %s\n", where, cfg.CA.PassphraseEnv)
			return nil
		},
	}
	cmd.Flags().StringVarP(&config, "config", "c", "", "configuration file (YAML)")
	return cmd
}
