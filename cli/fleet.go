package cli

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"rampart/adminapi"
	"rampart/attest"
)

func init() { register("fleet", newFleetCmd) }

// fleetOpts are the connection flags every fleet subcommand shares.
type fleetOpts struct {
	server, token, caFile string
	json, quiet           bool
}

func newFleetCmd(env *Env) *cobra.Command {
	o := &fleetOpts{}
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Administer a running fleet server: devices, endorsements, releases, audit, telemetry",
		Long: `Client of the fleet server's admin API (docs/fleet-admin-api.md).

The server URL, the API token and the fleet CA certificate (to authenticate the server)
come from flags or from RAMPART_FLEET_URL, RAMPART_FLEET_TOKEN and RAMPART_FLEET_CA.
Tokens have roles: viewer (read), operator (+ suspend, resume), admin (+ decommission,
re-provision, import endorsements, register releases).

Exit status: 0 done, 1 refused by the server (unknown device, weak role, bad input),
2 usage, 3 the server could not be reached or a file could not be read.`,
		Example: `  export RAMPART_FLEET_URL=https://127.0.0.1:8444 RAMPART_FLEET_CA=data/ca.crt RAMPART_FLEET_TOKEN=...
  rampart fleet devices list --state active
  rampart fleet devices suspend 3fa2... --reason "reported stolen"
  rampart fleet endorsements import device.endorsement.json.cose   # as rampart spe provision wrote it
  rampart fleet releases register app-1.2.3.signed.bin
  rampart fleet audit --subject 3fa2... --json
  rampart fleet telemetry --device 3fa2... --metric temperature --from 2026-11-25T00:00:00Z --format csv`,
		Args: exactArgs(0, "a subcommand (devices, endorsements, releases, audit, telemetry, nodes, ownership, ca)"),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.server, "server", "", "admin API base URL (default $RAMPART_FLEET_URL)")
	pf.StringVar(&o.token, "token", "", "API token (default $RAMPART_FLEET_TOKEN)")
	pf.StringVar(&o.caFile, "ca", "", "fleet CA certificate PEM trusted for TLS (default $RAMPART_FLEET_CA; system roots when empty)")
	pf.BoolVar(&o.json, "json", false, "print JSON")
	pf.BoolVarP(&o.quiet, "quiet", "q", false, "no progress line on standard error for large imports and exports")
	cmd.AddCommand(newFleetDevicesCmd(env, o), newFleetEndorsementsCmd(env, o), newFleetReleasesCmd(env, o), newFleetAuditCmd(env, o), newFleetTelemetryCmd(env, o), newFleetNodesCmd(env, o), newFleetOwnershipCmd(env, o), newFleetCACmd(env, o))
	return cmd
}

func (o *fleetOpts) client(env *Env) (*adminapi.Client, error) {
	if o.server == "" {
		o.server = env.Getenv("RAMPART_FLEET_URL")
	}
	if o.token == "" {
		o.token = env.Getenv("RAMPART_FLEET_TOKEN")
	}
	if o.caFile == "" {
		o.caFile = env.Getenv("RAMPART_FLEET_CA")
	}
	if o.server == "" {
		return nil, usageError("no server: give --server or set RAMPART_FLEET_URL")
	}
	server, err := fleetServerURL(o.server)
	if err != nil {
		return nil, err
	}
	o.server = server
	var roots *x509.CertPool
	if o.caFile != "" {
		b, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fail(ExitError, fmt.Errorf("fleet: --ca: %w", err), "")
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return nil, fail(ExitError, fmt.Errorf("fleet: --ca %s: no PEM certificate", o.caFile), "")
		}
	}
	c := adminapi.NewClient(o.server, o.token, roots)
	// Idle keep-alive connections close when the command ends, so that
	// many commands in one process (a test, a script host) do not hold
	// the server's per-source connection budget.
	env.atExit = append(env.atExit, c.HTTP.CloseIdleConnections)
	return c, nil
}

// whenForms lists the forms parseWhen accepts, for help and errors.
const whenForms = "2026-11-25T08:00:00Z (RFC 3339), 2026-11-25 (a UTC date), 24h or 30m (that long ago), now, or 1764086400000 (Unix milliseconds)"

// parseWhen reads a time flag: RFC 3339, a UTC date, a duration before now,
// "now" or Unix milliseconds; "" is no bound.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if s == "now" {
		return now, nil
	}
	if t, err := adminapi.ParseTime(s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(s, "-")); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError("%s %q: not a time; accepted: %s", flag, s, whenForms)
}

// fleetServerURL is the admin API base URL of --server: a URL, or a bare
// host:port, which means https (the admin API serves nothing else).
func fleetServerURL(s string) (string, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", usageError("--server %q: want host:port (https is assumed) or an https:// URL, e.g. 127.0.0.1:8444", s)
	}
	return s, nil
}

// fleetErr maps an API error to an exit code.
func fleetErr(err error) error {
	if err == nil {
		return nil
	}
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return fail(ExitError, err, "give the fleet CA certificate with --ca or RAMPART_FLEET_CA: the server's start-up line (fleet server started) names it, ca=.../data_dir/ca.crt")
	}
	var he x509.HostnameError
	if errors.As(err, &he) {
		return fail(ExitError, err, "use the host name or address the server's certificate was issued for (listen.admin in its configuration)")
	}
	if adminapi.IsStatus(err, 401) {
		return fail(ExitFailure, err, "give a valid token with --token or RAMPART_FLEET_TOKEN")
	}
	if adminapi.IsStatus(err, 403) {
		return fail(ExitFailure, err, "this needs a token with a stronger role")
	}
	var se *adminapi.StatusError
	if errors.As(err, &se) && se.Status < 500 {
		return fail(ExitFailure, err, "")
	}
	return fail(ExitError, err, "")
}

func printJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newFleetDevicesCmd(env *Env, o *fleetOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "devices",
		Short:   "List, show and change the lifecycle of devices",
		Example: "  rampart fleet devices list --state suspended\n  rampart fleet devices decommission ID --reason \"end of life\"",
		Args:    exactArgs(0, "a subcommand (list, show, suspend, resume, decommission, reprovision)"),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	var state string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List devices",
		Example: "  rampart fleet devices list --state active --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			list := func(ctx context.Context) ([]adminapi.Device, error) {
				return c.Devices(ctx, adminapi.DeviceState(state))
			}
			return printList(env, o, list, "ID\tSTATE\tMANUFACTURER\tENROLLED\tLAST ATTESTED\tREASON", func(d adminapi.Device) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", d.ID, d.State, d.Manufacturer, fmtTime(d.Enrolled), fmtTime(d.LastAttested), d.Reason)
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "only registered, active, suspended or decommissioned devices")
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one device and its certificates",
		Example: "  rampart fleet devices show 3fa2c1...",
		Args:    exactArgs(1, "a device id"),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			d, err := c.Device(context.Background(), args[0])
			if adminapi.IsStatus(err, 404) {
				return fail(ExitFailure, fmt.Errorf("no device %s", args[0]), "rampart fleet devices list shows the device IDs")
			}
			if err != nil {
				return fleetErr(err)
			}
			if o.json {
				return printJSON(env, d)
			}
			fmt.Fprintf(env.Stdout, "device:        %s\nstate:         %s %s\ninstance id:   %s\nmanufacturer:  %s\nenrolled:      %s\nlast attested: %s\n",
				d.ID, d.State, d.Reason, hex.EncodeToString(d.InstanceID), d.Manufacturer, fmtTime(d.Enrolled), fmtTime(d.LastAttested))
			for _, ct := range d.Certificates {
				rev := ""
				if !ct.Revoked.IsZero() {
					rev = " REVOKED " + fmtTime(ct.Revoked)
				}
				fmt.Fprintf(env.Stdout, "certificate:   %s %s .. %s%s\n", ct.Serial, fmtTime(ct.NotBefore), fmtTime(ct.NotAfter), rev)
			}
			return nil
		},
	}
	cmd.AddCommand(list, show)
	for _, tr := range []struct {
		action      adminapi.DeviceAction
		short, role string
	}{
		{adminapi.DeviceSuspend, "Suspend a device (reason required); its MQTT connection drops at once", "operator"},
		{adminapi.DeviceResume, "Resume a suspended device", "operator"},
		{adminapi.DeviceDecommission, "Decommission a device: revoke its certificates, disconnect it, block re-enrollment", "admin"},
		{adminapi.DeviceReprovision, "Allow a decommissioned device to enroll again", "admin"},
	} {
		name := string(tr.action)
		var reason string
		c := &cobra.Command{
			Use:     name + " ID",
			Short:   tr.short + " (" + tr.role + " token)",
			Example: fmt.Sprintf("  rampart fleet devices %s 3fa2c1... --reason \"maintenance\"", name),
			Args:    exactArgs(1, "a device id"),
			RunE: func(_ *cobra.Command, args []string) error {
				if tr.action == adminapi.DeviceSuspend && reason == "" {
					return usageError("--reason is required to suspend a device")
				}
				c, err := o.client(env)
				if err != nil {
					return err
				}
				res, err := c.Transition(context.Background(), args[0], tr.action, reason)
				if adminapi.IsStatus(err, 404) {
					return fail(ExitFailure, fmt.Errorf("no device %s", args[0]), "rampart fleet devices list shows the device IDs")
				}
				if err != nil {
					return fleetErr(err)
				}
				if o.json {
					return printJSON(env, res)
				}
				fmt.Fprintf(env.Stdout, "%s: %s", args[0], res.State)
				if len(res.RevokedCertificates) > 0 {
					fmt.Fprintf(env.Stdout, ", %d certificate(s) revoked", len(res.RevokedCertificates))
				}
				if res.Disconnected {
					fmt.Fprint(env.Stdout, ", disconnected")
				}
				fmt.Fprintln(env.Stdout)
				return nil
			},
		}
		c.Flags().StringVar(&reason, "reason", "", "why (kept in the device record and the audit log)")
		cmd.AddCommand(c)
	}
	return cmd
}

func newFleetEndorsementsCmd(env *Env, o *fleetOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endorsements",
		Short:   "List, sign and import manufacturer endorsements",
		Example: "  rampart fleet endorsements import device.endorsement.json.cose\n  rampart fleet endorsements sign --key acme.pem --manufacturer acme --out batch.cose list.json",
		Args:    exactArgs(0, "a subcommand (list, sign, import)"),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the endorsements on the server",
		Example: "  rampart fleet endorsements list --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			return printList(env, o, c.Endorsements, "DEVICE\tMANUFACTURER\tINSTANCE ID\tCOMMENT", func(e adminapi.Endorsement) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s", e.DeviceID, e.Manufacturer, e.InstanceID, e.Comment)
			})
		},
	}
	var keyFile, manufacturer, outFile string
	sign := &cobra.Command{
		Use:   "sign LIST.json --key MFR.pem [--manufacturer NAME] --out SIGNED.cose",
		Short: "Sign an endorsement list with a manufacturer key (offline; no server needed)",
		Long: `Sign an endorsement list (as written by 'rampart attest endorse' or 'rampart spe provision
--endorsement') with a manufacturer key, in the one signed-endorsement format: a tagged
COSE_Sign1 (ES256/ES384/ES512, content type application/json, the manufacturer name as the
protected kid) over the list's exact bytes, as 'rampart spe provision' writes for each
device (docs/fleet-enrollment.md section 7). Use it to sign a batch of devices at once.

The output is binary CBOR: give --out, or --out - to write it to standard output.`,
		Example: "  rampart fleet endorsements sign --key acme.pem --manufacturer acme --out batch.cose list.json\n  rampart fleet endorsements import batch.cose",
		Args:    exactArgs(1, "an endorsement list file"),
		RunE: func(_ *cobra.Command, args []string) error {
			if keyFile == "" || outFile == "" {
				return usageError("--key and --out are required")
			}
			key, closeKey, err := manufacturerSigner(keyFile, "--key")
			if err != nil {
				return err
			}
			defer closeKey()
			lb, err := attestReadInput(env, args[0], "endorsement list")
			if err != nil {
				return err
			}
			out, err := attest.SignEndorsements(lb, manufacturer, key, rand.Reader)
			if errors.Is(err, attest.ErrEndorsementList) {
				return fail(ExitFailure, err, "")
			}
			if err != nil {
				return fail(ExitError, err, "")
			}
			if outFile == "-" {
				_, err = env.Stdout.Write(out)
				return err
			}
			if err := os.WriteFile(outFile, out, 0o644); err != nil {
				return fail(ExitError, err, "")
			}
			return nil
		},
	}
	sign.Flags().StringVar(&keyFile, "key", "", "manufacturer private key: a PEM file or a pkcs11: URI")
	sign.Flags().StringVar(&manufacturer, "manufacturer", "", "manufacturer name, written as the protected kid (optional)")
	sign.Flags().StringVarP(&outFile, "out", "o", "", `write the signed list (COSE_Sign1) here ("-" for standard output)`)
	imp := &cobra.Command{
		Use:   "import SIGNED.cose",
		Short: "Import a manufacturer-signed endorsement list (admin token)",
		Long: `Import a signed endorsement list: the COSE_Sign1 that 'rampart spe provision' writes
(--signed, default ENDORSEMENT.cose) or 'rampart fleet endorsements sign' makes, as it is.
The server accepts it when any configured manufacturer key verifies it and records that
manufacturer. The retired JSON wrapper rampart-signed-endorsements/1 is refused; the error
says how to re-sign (docs/fleet-enrollment.md section 7).`,
		Example: "  rampart fleet endorsements import device.endorsement.json.cose",
		Args:    exactArgs(1, "a signed endorsement file"),
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := attestReadInput(env, args[0], "signed endorsements")
			if err != nil {
				return err
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			done := o.meter(env, c, "endorsements import")
			res, err := c.ImportEndorsements(context.Background(), b)
			done()
			if err != nil {
				return fleetErr(err)
			}
			if o.json {
				if err := printJSON(env, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(env.Stdout, "signed by %s: %d added, %d updated, %d refused\n", res.Manufacturer, len(res.Added), len(res.Updated), len(res.Refused))
				for _, r := range res.Refused {
					fmt.Fprintf(env.Stderr, "refused %s: %s\n", r.DeviceID, r.Reason)
				}
			}
			if len(res.Refused) > 0 {
				return failf(ExitFailure, "%d endorsements refused (devices in service keep their key and manufacturer)", len(res.Refused))
			}
			return nil
		},
	}
	cmd.AddCommand(list, sign, imp)
	return cmd
}

func newFleetNodesCmd(env *Env, o *fleetOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the live server nodes: version, start, devices connected, leases held, last heartbeat",
		Long: `List the live nodes of the fleet (docs/scale-out.md): each node's name, version (build
and store schema), when it started, how many devices its broker holds, which store
leases it holds (the background work it runs for every node: campaigns,
telemetry-maintenance) and its last heartbeat. A server without a cluster: section
lists itself.`,
		Example: "  rampart fleet nodes\n  rampart fleet nodes --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			return printList(env, o, c.Nodes, "NODE\tVERSION\tSTARTED\tDEVICES\tLEASES\tHEARTBEAT", func(n adminapi.Node) string {
				leases := strings.Join(n.Leases, ",")
				if leases == "" {
					leases = "-"
				}
				return fmt.Sprintf("%s\t%s\t%s\t%d\t%s\t%s", n.Name, n.Version, fmtTime(n.Started), n.Devices, leases, fmtTime(n.Heartbeat))
			})
		},
	}
}

func newFleetReleasesCmd(env *Env, o *fleetOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "releases",
		Short:   "List and register firmware releases (the reference measurements)",
		Example: "  rampart fleet releases register spe-1.2.3.signed.bin --comment \"Q4 release\"",
		Args:    exactArgs(0, "a subcommand (list, register, key-status)"),
		RunE:    func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List registered releases",
		Example: "  rampart fleet releases list --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			return printList(env, o, c.Releases, "TYPE\tVERSION\tMEASUREMENT\tSIGNER ID\tREGISTERED", func(r adminapi.Release) string {
				return fmt.Sprintf("%s\t%s\t%x\t%x\t%s", r.SwType, r.Version, r.Digest, r.SignerID, fmtTime(r.Created))
			})
		},
	}
	var comment string
	reg := &cobra.Command{
		Use:     "register IMAGE",
		Short:   "Upload a signed image; the server verifies it with its release keys (admin token)",
		Example: "  rampart fleet releases register spe-1.2.3.signed.bin",
		Args:    exactArgs(1, "a signed image file"),
		RunE: func(_ *cobra.Command, args []string) error {
			return postRelease(env, o, args[0], comment, false)
		},
	}
	reg.Flags().StringVar(&comment, "comment", "", "free text kept with the release")
	keys := &cobra.Command{
		Use:   "key-status",
		Short: "Show each retiring release key and the active devices that still hold it",
		Long: `A retiring release key (the server's retiring_release_keys) stays trusted for releases
while an active device's last attestation does not report its key fuse revoked; once every
active device reports it revoked it is retired and its releases are refused. This lists each
retiring key, its state and the devices still holding it (--json for the whole list).`,
		Example: "  rampart fleet releases key-status\n  rampart fleet releases key-status --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := o.client(env)
			if err != nil {
				return err
			}
			return printList(env, o, c.RetiringKeys, "KEY\tFUSE\tSTATE\tHOLDERS\tOF ACTIVE\tSTILL HELD BY", func(k adminapi.RetiringKey) string {
				held := strings.Join(k.Holders[:min(len(k.Holders), 10)], " ")
				if len(k.Holders) > 10 {
					held += fmt.Sprintf(" and %d more", len(k.Holders)-10)
				}
				return fmt.Sprintf("%s\t%d\t%s\t%d\t%d\t%s", k.Key, k.Fuse, k.State, len(k.Holders), k.Active, held)
			})
		},
	}
	cmd.AddCommand(list, reg, keys)
	return cmd
}

func newFleetAuditCmd(env *Env, o *fleetOpts) *cobra.Command {
	var subject, action, decision, since string
	var limit int
	cmd := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log (every enrollment decision, refusal and admin change), newest first",
		Example: "  rampart fleet audit --decision deny --since 2026-11-25T00:00:00Z\n  rampart fleet audit --subject 3fa2c1... --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			q := adminapi.AuditQuery{Subject: subject, Action: action, Decision: decision, Limit: limit}
			var err error
			if q.Since, err = parseWhen("--since", since, time.Now()); err != nil {
				return err
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			list := func(ctx context.Context) ([]adminapi.AuditEntry, error) {
				defer o.meter(env, c, "audit")()
				return c.Audit(ctx, q)
			}
			return printList(env, o, list, "TIME\tDECISION\tACTION\tSUBJECT\tACTOR\tREASON", func(e adminapi.AuditEntry) string {
				return fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", fmtTime(e.Time), e.Decision, e.Action, e.Subject, e.Actor, strings.ReplaceAll(e.Reason, "\n", " "))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&subject, "subject", "", "only entries about this subject (device id, ...)")
	f.StringVar(&action, "action", "", "only this action (enroll, renew, mqtt.connect, device.suspend, ...)")
	f.StringVar(&decision, "decision", "", "allow or deny")
	f.StringVar(&since, "since", "", "start: "+whenForms)
	f.IntVar(&limit, "limit", 0, "at most this many entries (server default 1000)")
	return cmd
}

func newFleetTelemetryCmd(env *Env, o *fleetOpts) *cobra.Command {
	var device, metric, from, to, format string
	var limit int
	cmd := &cobra.Command{
		Use:     "telemetry",
		Short:   "Query or export stored telemetry (CSV or JSON)",
		Example: "  rampart fleet telemetry --device 3fa2c1... --metric temperature --from 2026-11-25T00:00:00Z --format csv > t.csv",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if o.json {
				format = "json"
			}
			if format != "csv" && format != "json" {
				return usageError("--format %q: want csv or json", format)
			}
			q := adminapi.TelemetryQuery{Device: device, Metric: metric, Limit: limit}
			var err error
			now := time.Now()
			if q.From, err = parseWhen("--from", from, now); err != nil {
				return err
			}
			if q.To, err = parseWhen("--to", to, now); err != nil {
				return err
			}
			c, err := o.client(env)
			if err != nil {
				return err
			}
			done := o.meter(env, c, "telemetry export")
			b, err := c.ExportTelemetry(context.Background(), q, format)
			done()
			if err != nil {
				return fleetErr(err)
			}
			_, err = env.Stdout.Write(b)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&device, "device", "", "device id")
	f.StringVar(&metric, "metric", "", "metric name")
	f.StringVar(&from, "from", "", "start (inclusive): "+whenForms)
	f.StringVar(&to, "to", "", "end (exclusive): "+whenForms)
	f.StringVar(&format, "format", "csv", "csv or json")
	f.IntVar(&limit, "limit", 0, "at most this many samples (server default 100000)")
	return cmd
}
