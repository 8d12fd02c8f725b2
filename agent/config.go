package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"rampart/ipc"
	"rampart/psa"
)

// DefaultKeyID is the SPE key ID of the device's TLS key.
const DefaultKeyID psa.KeyID = 0x0052_4101

// Config configures an Agent.
type Config struct {
	// Dir holds the agent's persisted state (state.json, the download).
	Dir string
	// SPE opens a session with the device's SPE: an in-process session
	// (spe.Server.Local) or a Unix socket (ipc.Dial).
	SPE func() (ipc.Transport, error)
	// EnrollURL is the fleet's enrollment base URL (https://host:port).
	EnrollURL string
	// EnrollFallbacks are more enrollment URLs of the same fleet (its
	// other nodes): after a transient failure at one, an enrollment or
	// renewal tries the next, in turn. Jobs still name EnrollURL as the
	// enrollment endpoint.
	EnrollFallbacks []string
	// MQTTAddr is the broker's host:port: the first endpoint tried; the
	// agent also uses those the fleet names at enrollment (endpoints.go).
	MQTTAddr string
	// Roots are the trust anchors for the fleet server (its CA).
	Roots *x509.CertPool
	// Manufacturers, when set, are the manufacturer endorsement keys the
	// device checks a voucher's first hop against (transfer.go); without
	// them it relies on its current fleet, which checked the hop when it
	// imported the voucher.
	Manufacturers map[string]*ecdsa.PublicKey
	// Anchors are the certificates of Roots. With them the agent follows a
	// rotation of the fleet CA (trust.go): it checks the cross certificate
	// of the new CA with the key of the one it trusts. Without them it
	// relies on Roots alone and cannot follow a rotation.
	Anchors []*x509.Certificate
	// ServerName is the server's name in its TLS certificate; the host
	// of the endpoint dialled when empty.
	ServerName string
	// Dial opens network connections (fault injection); net.Dialer when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// KeyID is the SPE key ID of the TLS key (DefaultKeyID when zero).
	KeyID psa.KeyID
	// Telemetry returns the readings to publish; nil publishes uptime only.
	Telemetry func(now time.Time) map[string]float64
	// TelemetryInterval is the period of telemetry (default 10s).
	TelemetryInterval time.Duration
	// RenewBefore renews the certificate this long before it expires
	// (default a third of its lifetime).
	RenewBefore time.Duration
	// SelfTest runs in the trial boot of a new image; the image is
	// accepted only if it returns nil. The agent's own checks (a fresh
	// attestation accepted by the fleet) run first in any case.
	SelfTest func(ctx context.Context, version string) error
	// Backoff paces retries of transient errors, reconnections among
	// them (Backoff.Max caps the wait: docs/agent.md, "Reconnecting").
	Backoff Backoff
	Rand    io.Reader        // crypto/rand when nil
	Now     func() time.Time // time.Now when nil
	Log     *slog.Logger     // discards when nil
	// Hooks are fault-injection points for the simulator; nil in production.
	Hooks *Hooks
}

// Hooks let a simulator interrupt the agent at chosen points, as a power
// cut would. A hook returning an error stops the operation with it.
type Hooks struct {
	// AfterPhase runs after the update state was persisted in a phase.
	AfterPhase func(phase Phase) error
	// Resume runs each time an update is started or resumed, after the
	// attempt was counted, with the persisted phase.
	Resume func(phase Phase) error
	// DownloadBlock runs after each block written to the download file.
	DownloadBlock func(written int64) error
}

func (c *Config) check() error {
	if c.Dir == "" {
		return errors.New("agent: config: Dir is required")
	}
	if c.SPE == nil {
		return errors.New("agent: config: SPE is required")
	}
	if c.EnrollURL == "" || c.MQTTAddr == "" {
		return errors.New("agent: config: EnrollURL and MQTTAddr are required")
	}
	if c.Roots == nil {
		return errors.New("agent: config: Roots is required")
	}
	if _, _, err := net.SplitHostPort(c.MQTTAddr); err != nil {
		return errors.New("agent: config: MQTTAddr: " + err.Error())
	}
	if c.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second}
		c.Dial = d.DialContext
	}
	if c.KeyID == 0 {
		c.KeyID = DefaultKeyID
	}
	if c.TelemetryInterval <= 0 {
		c.TelemetryInterval = 10 * time.Second
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Hooks == nil {
		c.Hooks = &Hooks{}
	}
	c.Backoff = c.Backoff.withDefaults()
	return nil
}
