package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rampart/ipc"
	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
)

func init() { register("spe", newSpeCmd) }

// speSubcommands lets files for other SPE services (storage, attestation,
// provisioning, firmware update) add subcommands under "rampart spe" without
// editing this file: each appends its factory from an init function.
var speSubcommands []func(*Env) *cobra.Command

// speDefaultSocket is where `rampart spe` looks when --socket is not given
// and RAMPART_SPE_SOCKET is unset.
const speDefaultSocket = "/run/rampart/spe.sock"

func newSpeCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "spe",
		Short: "Run and inspect the Secure Processing Environment (trusted services over a Unix socket)",
		Long: `The SPE is the process that owns every key. Applications reach it only through
the PSA Firmware Framework call model over a Unix socket (docs/spe-ipc.md); the kernel
tells the SPE who each client is (SO_PEERCRED), and the configuration maps uids and pids
to PSA client IDs.`,
		Example: `  rampart spe serve --config /etc/rampart/spe.json
  rampart spe status --socket /run/rampart/spe.sock
  rampart spe keys --json`,
	}
	cmd.AddCommand(newSpeServeCmd(env), newSpeStatusCmd(env), newSpeKeysCmd(env), newSpePartitionCmd(env))
	for _, f := range speSubcommands {
		cmd.AddCommand(f(env))
	}
	return cmd
}

func speSocket(env *Env, flag string) string {
	if flag != "" {
		return flag
	}
	if s := env.Getenv("RAMPART_SPE_SOCKET"); s != "" {
		return s
	}
	return speDefaultSocket
}

func newSpeServeCmd(env *Env) *cobra.Command {
	var configPath, device, rotSpec string
	var check bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the SPE: its trusted services on a Unix socket",
		Long: `Run the SPE until SIGINT or SIGTERM. The configuration (JSON) names the socket, the
state directory (hardware unique key, sealed keys and storage, mode 0700, the SPE's user's
alone) and the rules mapping peer uids/pids to negative PSA client IDs; a peer no rule
matches is refused.

  {"socket": "/run/rampart/spe/spe.sock", "socket_group": "rampart-clients",
   "state_dir": "/var/lib/rampart/spe",
   "clients": [{"name": "agent", "uid": 1001, "client_id": -1},
               {"name": "metrics", "uid": 1002, "client_id": -2}],
   "limits": {"crypto": {"volatile_keys_per_client": 64}, "ps": {"max_objects_per_client": 64}}}

With socket_group, each client runs under its own user, a member of that group: the socket is
0660 in a 0750 directory of that group, and no client can read the state directory. Without
it the socket is 0600 in a 0700 directory: only the SPE's own user can connect.
docs/spe-ipc.md (sections 6 to 8) says what each protects and lists the limits.

--device names the bootloader device directory (rampart boot create): the SPE then boots it,
attests its boot measurements and offers firmware update. Without it there are no boot
measurements, so no attestation token (and no enrollment with a fleet) and no firmware update.
$RAMPART_SPE_DEVICE is read when --device is not given.

--check-config validates the file and the socket directory as serve would, and exits
(0 valid, 1 invalid, 3 unreadable).`,
		Example: `  rampart spe serve --config /etc/rampart/spe.json --device /var/lib/rampart/device
  rampart spe serve --config spe.json --check-config`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return usageError("spe serve needs --config")
			}
			cfg, err := spe.LoadConfig(configPath)
			if err != nil {
				if errors.Is(err, spe.ErrConfig) {
					return fail(ExitFailure, err, "fix the field named above")
				}
				return fail(ExitError, err, "")
			}
			gid, err := cfg.SocketGID()
			if err != nil {
				return fail(ExitFailure, err, "socket_group must name an existing group")
			}
			if err := spe.CheckSocket(cfg.Socket, gid); err != nil {
				return fail(ExitFailure, err, "the socket directory must be private to the SPE's user (0700), or 0750 of socket_group")
			}
			if len(cfg.PartitionUIDs) > 0 && os.Geteuid() != 0 {
				return fail(ExitFailure, fmt.Errorf("%s: partition_uids: the SPE must start as root to run partitions under other uids", configPath), "start `rampart spe serve` as root, or leave partition_uids out (docs/spe-isolation.md)")
			}
			if check {
				fmt.Fprintf(env.Stdout, "%s: valid (%d client rules, isolation level %d)\n", configPath, len(cfg.Clients), cfg.Level())
				return nil
			}
			if gid >= 0 {
				for _, r := range cfg.SharedWith(os.Geteuid()) {
					fmt.Fprintf(env.Stderr, "spe: warning: client rule %q maps uid %d, which can read the state directory: it is not isolated from the SPE\n", r.Name, *r.UID)
				}
			}
			if err := spe.HardenProcess(); err != nil {
				return fail(ExitError, err, "")
			}
			if device == "" {
				device = env.Getenv("RAMPART_SPE_DEVICE")
			}
			svc, err := speServices(env, cfg, device)
			if err != nil {
				return fail(ExitError, err, "the state directory must be writable by the SPE only")
			}
			if svc.opt.RoT, err = speOpenRoT(env, rotSpec); err != nil {
				return err
			}
			if svc.opt.RoT != nil {
				defer svc.opt.RoT.Close()
			}
			logger := log.New(env.Stderr, "", log.LstdFlags)
			srv := spe.New(spe.Options{Identify: cfg.Identify, MaxSessionsPerClient: cfg.Limits.SessionsPerClient, NoSharedMemory: cfg.NoSharedMemory, Logf: logger.Printf})
			if err := srv.RegisterStatus(); err != nil {
				return fail(ExitError, err, "")
			}
			if len(cfg.TraceClients) > 0 {
				if err := srv.RegisterTrace(cfg.TraceClients); err != nil {
					return fail(ExitError, err, "")
				}
			}
			if err := svc.Start(srv, cfg); err != nil {
				srv.Shutdown()
				return fail(ExitError, err, "")
			}
			// SIGTERM is caught before the socket accepts anything: a
			// supervisor (or a test) that sees the socket ready may stop
			// the SPE at once, and must get a clean shutdown.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if gid >= 0 {
				err = srv.ListenGroup(cfg.Socket, gid)
			} else {
				err = srv.Listen(cfg.Socket)
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			go func() { <-ctx.Done(); srv.Shutdown() }()
			if device == "" {
				fmt.Fprintf(env.Stderr, "spe: warning: no --device: no boot measurements, so no attestation tokens (no fleet enrollment) and no firmware update\n")
			}
			fmt.Fprintf(env.Stderr, "spe: serving on %s (state in %s, isolation level %d)\n", cfg.Socket, cfg.StateDir, cfg.Level())
			if err := srv.Serve(); err != nil {
				return fail(ExitError, err, "")
			}
			os.Remove(cfg.Socket)
			return nil
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "SPE configuration file (JSON)")
	cmd.Flags().BoolVar(&check, "check-config", false, "validate the configuration and exit")
	cmd.Flags().StringVar(&device, "device", "", "bootloader device directory: boot measurements, attestation, firmware update (default $RAMPART_SPE_DEVICE)")
	speRoTFlag(cmd.Flags(), &rotSpec)
	return cmd
}

func speDialErr(err error, sock string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrPermission) {
		return fail(ExitError, err, "is `rampart spe serve` running, and may this user open "+sock+"?")
	}
	var st ipc.Status
	if errors.As(err, &st) {
		return fail(ExitFailure, err, "the SPE refused this client: add a client rule for its uid or pid")
	}
	return fail(ExitError, err, "")
}

func newSpeStatusCmd(env *Env) *cobra.Command {
	var sock string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running SPE's services, sessions and call counters",
		Example: `  rampart spe status
  rampart spe status --socket /tmp/spe.sock --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock = speSocket(env, sock)
			c, err := ipc.Dial(sock)
			if err != nil {
				return speDialErr(err, sock)
			}
			defer c.Close()
			rep, err := c.RoundTrip(&ipc.Request{Kind: ipc.KindStateless, SID: spe.StatusSID, Version: 1, OutSize: []uint32{1 << 20}})
			if err != nil {
				return speDialErr(err, sock)
			}
			if rep.Status != ipc.Success || len(rep.Out) != 1 {
				return speDialErr(fmt.Errorf("spe status: %w", rep.Status), sock)
			}
			var st spe.Stats
			if err := json.Unmarshal(rep.Out[0], &st); err != nil {
				return fail(ExitError, fmt.Errorf("spe status: %w", err), "")
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(env.Stdout, "uptime %s, %d sessions, %d open handles, %d calls, %d errors\n",
				st.Uptime.Round(time.Second), st.Sessions, st.Handles, st.Calls, st.Errors)
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SID\tVERSION\tPOLICY\tSERVICE\tPARTITION")
			for _, s := range st.Services {
				fmt.Fprintf(tw, "0x%08x\t%d\t%s\t%s\t%s\n", s.SID, s.Version, s.Policy, s.Name, s.Partition)
			}
			if len(st.Processes) > 0 {
				fmt.Fprintln(tw, "\nPROCESS\tPID\tRESTARTS")
				for _, p := range st.Processes {
					fmt.Fprintf(tw, "%s\t%d\t%d\n", p.Name, p.PID, p.Restarts)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// speKey is the JSON shape of one key's metadata.
type speKey struct {
	ID        uint32 `json:"id"`
	Type      string `json:"type"`
	Bits      int    `json:"bits"`
	Lifetime  string `json:"lifetime"`
	Usage     string `json:"usage"`
	Algorithm string `json:"algorithm"`
}

// lifetimeName names a key lifetime for spe keys: its persistence, and its
// location when it is not the SPE's local storage.
func lifetimeName(l psa.Lifetime) string {
	name := "volatile"
	if l.IsPersistent() {
		name = "persistent"
	}
	switch loc := l.Location(); loc {
	case psa.LocationLocalStorage:
		return name
	case psa.LocationRampartTPM:
		return name + ":tpm"
	default:
		return fmt.Sprintf("%s:0x%06x", name, loc)
	}
}

func newSpeKeysCmd(env *Env) *cobra.Command {
	var sock string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List the calling client's keys in the SPE (metadata only, never key material)",
		Long: `List the keys of the client this process is mapped to (by its uid or pid):
ID, type, size, lifetime, usage flags and permitted algorithm. Another client's keys are
never visible, and no key material is ever printed. LIFETIME is volatile, persistent, or
persistent:tpm for a key generated inside the SPE's TPM (lifetime location 0x800001, with
spe serve --rot tpm:; docs/roots-of-trust.md).`,
		Example: `  rampart spe keys
  rampart spe keys --socket /tmp/spe.sock --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sock = speSocket(env, sock)
			c, err := psaclient.Dial(sock)
			if err != nil {
				return speDialErr(err, sock)
			}
			defer c.Close()
			list, err := c.ListKeys()
			if err != nil {
				return speDialErr(err, sock)
			}
			keys := make([]speKey, 0, len(list))
			for _, a := range list {
				keys = append(keys, speKey{uint32(a.ID), fmt.Sprintf("0x%04x", uint16(a.Type)), a.Bits, lifetimeName(a.Lifetime),
					fmt.Sprintf("0x%08x", uint32(a.Usage)), fmt.Sprintf("0x%08x", uint32(a.Algorithm))})
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(keys)
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tBITS\tLIFETIME\tUSAGE\tALGORITHM")
			for _, k := range keys {
				fmt.Fprintf(tw, "0x%08x\t%s\t%d\t%s\t%s\t%s\n", k.ID, k.Type, k.Bits, k.Lifetime, k.Usage, k.Algorithm)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the keys as JSON")
	return cmd
}
