package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/deviceproto"
	"rampart/internal/secfile"
	"rampart/psaclient"
)

// Agent is one device's agent.
type Agent struct {
	cfg    Config
	crypto *psaclient.Client
	signer *psaclient.Signer
	att    *psaclient.Attestation
	fwu    *psaclient.FWU
	http   *http.Client

	mu          sync.Mutex // guards state, the MQTT client and the refusals
	state       *State
	refused     int64 // job messages refused (jobs.go)
	lastRefusal error
	cert        *x509.Certificate
	mqtt        *paho.Client
	mqttCert    *x509.Certificate // the certificate the MQTT session was opened with
	mqttAddr    string            // the endpoint of the MQTT session
	lost        chan struct{}     // closed when the current MQTT session is lost
	// told is set when the broker ended the current session with a
	// DISCONNECT: a session lost without one was cut (its node died).
	told       *atomic.Bool
	jobs       chan jobMsg
	transfers  chan []byte    // transfer messages for the session loop (transfer.go)
	trusts     chan []byte    // trust messages for the session loop (trust.go)
	forceRenew bool           // the broker refused the certificate: re-enroll (trust.go)
	fleetRoots *x509.CertPool // state.Fleet's CA certificates, parsed
	ep         endpointState  // which MQTT endpoint the next connection tries (endpoints.go)
	mirror     int            // which download endpoint the next attempt tries (download.go)

	started   time.Time
	published atomic.Int64
}

// Published is the number of telemetry samples the broker acknowledged.
func (a *Agent) Published() int64 { return a.published.Load() }

// New opens the agent's sessions with the SPE, makes sure its TLS key
// exists there (generating it inside the SPE on first start) and loads the
// persisted state. It does not touch the network.
func New(cfg Config) (*Agent, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := secfile.MkdirAll(cfg.Dir); err != nil { // 0700, tightened if it exists
		return nil, fmt.Errorf("agent: %w", err)
	}
	st, err := loadState(cfg.Dir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, state: st, jobs: make(chan jobMsg, 4), transfers: make(chan []byte, 1), trusts: make(chan []byte, 1), started: cfg.Now()}
	if st.Fleet != nil {
		if a.fleetRoots, err = st.Fleet.roots(); err != nil {
			return nil, err
		}
	}
	if err := a.openSPE(); err != nil {
		a.Close()
		return nil, err
	}
	if len(st.CertDER) > 0 {
		c, err := x509.ParseCertificate(st.CertDER)
		if err != nil {
			return nil, fmt.Errorf("agent: state: certificate: %w", err)
		}
		a.cert = c
	}
	a.http = a.newHTTP()
	return a, nil
}

// sameOriginHTTPS follows a redirect only to https on the host and port of
// the original request: a job's URL was checked against the fleet's
// endpoints, and a redirect must not lead the download elsewhere.
func sameOriginHTTPS(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("agent: http: more than 5 redirects")
	}
	if req.URL.Scheme != "https" || deviceproto.Endpoint(req.URL) != deviceproto.Endpoint(via[0].URL) {
		return fmt.Errorf("%w: redirect to %s://%s refused", deviceproto.ErrJobURL, req.URL.Scheme, req.URL.Host)
	}
	return nil
}

func (a *Agent) openSPE() error {
	t, err := a.cfg.SPE()
	if err != nil {
		return fmt.Errorf("agent: spe: %w", err)
	}
	if a.crypto, err = psaclient.NewClient(t); err != nil {
		return fmt.Errorf("agent: spe: crypto: %w", err)
	}
	if a.signer, err = psaclient.NewSigner(a.crypto, a.cfg.KeyID); err != nil {
		// First start: the key is generated inside the SPE and never leaves it.
		_, gerr := a.crypto.GenerateKey(tlsKeyAttributes(a.cfg.KeyID))
		if gerr != nil {
			return fmt.Errorf("agent: spe: device key %#x: %v (generate: %w)", a.cfg.KeyID, err, gerr)
		}
		if a.signer, err = psaclient.NewSigner(a.crypto, a.cfg.KeyID); err != nil {
			return fmt.Errorf("agent: spe: device key: %w", err)
		}
	}
	if t, err = a.cfg.SPE(); err != nil {
		return fmt.Errorf("agent: spe: %w", err)
	}
	a.att = psaclient.NewAttestation(t)
	if t, err = a.cfg.SPE(); err != nil {
		return fmt.Errorf("agent: spe: %w", err)
	}
	a.fwu = psaclient.NewFWU(t)
	return nil
}

// Close ends the MQTT session and the SPE sessions.
func (a *Agent) Close() error {
	a.mu.Lock()
	c := a.mqtt
	a.mqtt = nil
	a.mu.Unlock()
	if c != nil {
		c.Disconnect(&paho.Disconnect{})
	}
	if a.fwu != nil {
		a.fwu.Close()
	}
	if a.att != nil {
		a.att.Close()
	}
	if a.crypto != nil {
		a.crypto.Close()
	}
	if a.http != nil {
		a.http.CloseIdleConnections()
	}
	return nil
}

// DeviceID is the device's fleet identity (empty before enrollment).
func (a *Agent) DeviceID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.DeviceID
}

// Certificate is the current device certificate (nil before enrollment).
func (a *Agent) Certificate() *x509.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cert
}

// State returns a copy of the persisted state.
func (a *Agent) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := *a.state
	if s.Update != nil {
		u := *s.Update
		s.Update = &u
	}
	if s.Taken != nil {
		t := *s.Taken
		s.Taken = &t
	}
	return s
}

func (a *Agent) saveLocked() error { return a.state.save(a.cfg.Dir) }

// Attest returns a fresh attestation token over nonce from the SPE.
func (a *Agent) Attest(_ context.Context, nonce []byte) ([]byte, error) {
	tok, err := a.att.Token(nonce)
	if err != nil {
		err = fmt.Errorf("agent: attestation: %w", err)
		if hint := permanentSPE(err); hint != "" {
			return nil, fatalHint(err, hint)
		}
		return nil, err
	}
	return tok, nil
}

// dialTLS opens the mutual-TLS connection to the endpoint pickEndpoint
// chooses, and returns it with the certificate used and the endpoint.
func (a *Agent) dialTLS(ctx context.Context) (net.Conn, *x509.Certificate, string, error) {
	a.mu.Lock()
	cert := a.cert
	a.mu.Unlock()
	if cert == nil {
		return nil, nil, "", errors.New("agent: mqtt: not enrolled")
	}
	addr := a.pickEndpoint()
	name := a.cfg.ServerName
	if name == "" {
		name, _, _ = net.SplitHostPort(addr)
	}
	raw, err := a.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		a.endpointDown(addr)
		return nil, nil, addr, fmt.Errorf("agent: mqtt: %w", err)
	}
	tc := a.tlsConfig(name)
	tc.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: a.signer, Leaf: cert}}
	conn := tls.Client(raw, tc)
	hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		a.endpointDown(addr)
		return nil, nil, addr, fmt.Errorf("agent: mqtt: %s: tls: %w", addr, err)
	}
	return conn, cert, addr, nil
}
