package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"rampart/agent"
	"rampart/deviceproto"
	"rampart/ipc"
)

func init() { register("agent", newAgentCmd) }

func newAgentCmd(env *Env) *cobra.Command {
	var sock, dir, mqttAddr, caFile, serverName string
	var enrollURLs []string
	var interval, reconnectMax time.Duration
	var once, asJSON bool
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the device agent: enroll by attestation, MQTT telemetry, firmware updates",
		Long: `agent is the non-secure application of a Linux-class device. Every key operation
goes through the SPE (rampart spe serve) over its socket: the TLS key is generated
and kept there. The agent enrolls with the fleet by attestation (EST-shaped, the token's
nonce binds the server nonce and the CSR key), connects to the broker with mutual TLS,
publishes telemetry, renews its certificate by re-attestation before it expires, and
carries out firmware-update jobs received on devices/<id>/jobs (docs/agent.md):
resumable download, hand-over to the SPE's firmware-update service, reboot through the
bootloader, self-test, accept or revert, and an outcome report with a fresh token.
When its broker goes away it reconnects to another of the fleet's MQTT endpoints (--mqtt,
then those named at enrollment, or the one an MQTT 5 Server Reference names), and an
interrupted download resumes from another endpoint the job's signer certified.
Its state lives in --dir, so it resumes an interrupted update after a restart.`,
		Example: `  rampart agent --socket /run/rampart/spe.sock --dir /var/lib/rampart/agent \
      --enroll-url https://fleet.example:8443 --mqtt fleet.example:8883 --ca fleet-ca.pem
  rampart agent --enroll-url node1.example:8443,node2.example:8443 --mqtt node1.example:8883 --ca fleet-ca.pem
  rampart agent --once --json --enroll-url https://127.0.0.1:8443 --mqtt 127.0.0.1:8883 --ca ca.crt`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(enrollURLs) == 0 || mqttAddr == "" || caFile == "" {
				return usageError("--enroll-url, --mqtt and --ca are required")
			}
			for i, e := range enrollURLs {
				u, err := fleetServerURL(e)
				if err != nil {
					return usageError("--enroll-url %q: want host:port (https is assumed) or an https:// URL", e)
				}
				enrollURLs[i] = u
			}
			pemData, err := os.ReadFile(caFile)
			if err != nil {
				return fail(ExitError, err, "--ca names the fleet CA certificate (PEM), e.g. the server's data/ca.crt")
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(pemData) {
				return fail(ExitError, fmt.Errorf("agent: --ca %s: no PEM certificate", caFile), "--ca names the fleet CA certificate (PEM), e.g. the server's data/ca.crt")
			}
			anchors, err := pemCertificates(pemData)
			if err != nil {
				return fail(ExitError, fmt.Errorf("agent: --ca %s: %w", caFile, err), "")
			}
			path := speSocket(env, sock)
			a, err := agent.New(agent.Config{
				Dir:               dir,
				SPE:               func() (ipc.Transport, error) { return ipc.Dial(path) },
				EnrollURL:         enrollURLs[0],
				EnrollFallbacks:   enrollURLs[1:],
				MQTTAddr:          mqttAddr,
				Roots:             roots,
				Anchors:           anchors,
				ServerName:        serverName,
				TelemetryInterval: interval,
				Backoff:           agent.Backoff{Max: reconnectMax},
				Log:               slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
			})
			if err != nil {
				return fail(ExitError, err, "is the SPE running? rampart spe serve --config ...")
			}
			defer a.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if once {
				return agentOnce(ctx, env, a, asJSON)
			}
			if err := a.Run(ctx); err != nil {
				return agentFail(err, "a fatal error: the fleet refused this device or an update could not be carried out")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sock, "socket", "", "SPE socket (default $RAMPART_SPE_SOCKET or "+speDefaultSocket+")")
	f.StringVar(&dir, "dir", "/var/lib/rampart/agent", "the agent's state directory")
	f.StringSliceVar(&enrollURLs, "enroll-url", nil, "fleet enrollment URL or host:port (https assumed), e.g. fleet.example:8443; more than one (repeated or comma-separated: the fleet's nodes) are tried in turn when one fails")
	f.StringVar(&mqttAddr, "mqtt", "", "fleet MQTT broker host:port")
	f.StringVar(&caFile, "ca", "", "fleet CA certificate (PEM) the agent trusts")
	f.StringVar(&serverName, "server-name", "", "server name in its TLS certificate (default: the --mqtt host)")
	f.DurationVar(&interval, "interval", 10*time.Second, "telemetry period")
	f.DurationVar(&reconnectMax, "reconnect-max", 30*time.Second, "cap on the wait before a retry or reconnection (exponential backoff, full jitter); each reconnection tries the next MQTT endpoint the fleet named")
	f.BoolVar(&once, "once", false, "enroll if needed, connect, publish one sample, resume any interrupted update, then exit")
	f.BoolVar(&asJSON, "json", false, "with --once: print the result as JSON")
	return cmd
}

// agentFail is a fatal agent error with what fixes it, when the agent knows.
func agentFail(err error, hint string) error {
	if h := agent.Hint(err); h != "" {
		hint = h
	}
	return fail(ExitFailure, err, hint)
}

type agentOnceResult struct {
	DeviceID string               `json:"device_id"`
	NotAfter time.Time            `json:"certificate_not_after"`
	Version  string               `json:"running_version"`
	Last     *deviceproto.Outcome `json:"last_update,omitempty"`
}

func agentOnce(ctx context.Context, env *Env, a *agent.Agent, asJSON bool) error {
	if err := a.EnsureEnrolled(ctx); err != nil {
		return agentFail(err, "")
	}
	if _, err := a.Resume(ctx); err != nil {
		return fail(ExitFailure, err, "")
	}
	if err := a.Connect(ctx); err != nil {
		return fail(ExitError, err, "")
	}
	if err := a.Publish(ctx, map[string]float64{"agent_once": 1}); err != nil {
		return fail(ExitError, err, "")
	}
	a.ReportOutcome(ctx)
	v, _ := a.RunningVersion()
	st := a.State()
	r := agentOnceResult{DeviceID: a.DeviceID(), NotAfter: a.Certificate().NotAfter, Version: v, Last: st.Last}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(env.Stdout, "device %s enrolled (certificate until %s), running %s, telemetry sent\n", r.DeviceID, r.NotAfter.Format(time.RFC3339), v)
	return nil
}

// pemCertificates parses every CERTIFICATE block of a PEM file: the
// anchors with which the agent follows a rotation of the fleet CA.
func pemCertificates(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}
