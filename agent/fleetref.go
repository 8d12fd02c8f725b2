package agent

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"rampart/psa"
)

// FleetRef is the fleet a device was transferred to (transfer.go): where it
// enrolls, the CA it trusts, its MQTT endpoints, and the voucher it
// followed. While it is set it replaces the configured EnrollURL, Roots
// and MQTTAddr: the configured fleet was the first owner's.
type FleetRef struct {
	EnrollURL string   `json:"enroll_url"`
	CACerts   [][]byte `json:"ca_certs"`
	MQTT      []string `json:"mqtt,omitempty"`
	// Serial is the serial of the voucher followed: a transfer whose
	// voucher is not newer is a replay.
	Serial uint64 `json:"serial"`
	// Owner is the owner key the voucher ended at (DER): the next
	// transfer's voucher must come from it.
	Owner []byte `json:"owner"`
}

// Moving is a transfer under way (persisted before the device acknowledges
// it, so that a restart finishes it).
type Moving struct {
	To         FleetRef `json:"to"`
	TransferID string   `json:"transfer_id"`
	// Acked: the old fleet acknowledged receipt of the outcome.
	Acked bool `json:"acked,omitempty"`
	// Shredded: the old fleet's key is destroyed and a new one made.
	Shredded bool `json:"shredded,omitempty"`
}

// roots parses a FleetRef's CA certificates into a pool.
func (f *FleetRef) roots() (*x509.CertPool, error) {
	p := x509.NewCertPool()
	for i, der := range f.CACerts {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("agent: state: fleet CA %d: %w", i, err)
		}
		p.AddCert(c)
	}
	return p, nil
}

// fleetLocked is the fleet the device belongs to now: its enrollment URL,
// trust anchors and first MQTT endpoints (the configured ones until a
// transfer).
func (a *Agent) fleetLocked() (enrollURL string, roots *x509.CertPool, mqtt []string) {
	if f := a.state.Fleet; f != nil && a.fleetRoots != nil {
		return f.EnrollURL, a.fleetRoots, f.MQTT
	}
	return a.cfg.EnrollURL, a.cfg.Roots, []string{a.cfg.MQTTAddr}
}

func (a *Agent) enrollURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	u, _, _ := a.fleetLocked()
	return u
}

func (a *Agent) roots() *x509.CertPool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, r, _ := a.fleetLocked()
	return r
}

// newHTTP is the client of the fleet's enrollment and image endpoints,
// trusting the fleet's anchors (tlsConfig).
func (a *Agent) newHTTP() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:     a.cfg.Dial,
		TLSClientConfig: a.tlsConfig(""),
		MaxIdleConns:    2, IdleConnTimeout: 30 * time.Second,
	}, CheckRedirect: sameOriginHTTPS}
}

// tlsKeyAttributes are the device's TLS key's: made inside the SPE, never
// exported, used to sign the TLS handshakes and the CSRs.
func tlsKeyAttributes(id psa.KeyID) psa.KeyAttributes {
	return psa.KeyAttributes{
		Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Lifetime: psa.LifetimePersistent,
		ID: id, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgAnyHash),
	}
}
