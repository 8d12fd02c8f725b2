package ownership

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"

	"github.com/veraison/go-cose"
)

// A ticket is the new owner's instruction to one device, a tagged
// COSE_Sign1 like a hop (content type TicketContentType) signed by the
// key the voucher's chain ends at, whose payload (Ticket) names the device,
// the voucher's final serial, the new fleet's enrollment URL and its CA
// certificates: the device learns where to go and whom to trust from the
// owner the voucher proves, not from the fleet it leaves.

// TicketContentType is a ticket's protected content type.
const TicketContentType = "application/rampart-onboarding-ticket+cbor"

// Limits of a ticket.
const (
	// MaxTicketSize bounds a ticket.
	MaxTicketSize = 12 << 10
	maxCACerts    = 4
	maxURL        = 512
	maxMQTT       = 8
)

// Ticket is the new owner's onboarding instruction for one device.
type Ticket struct {
	Device  []byte   `cbor:"1,keyasint"` // the device's instance ID
	Serial  uint64   `cbor:"2,keyasint"` // the voucher's final serial
	URL     string   `cbor:"3,keyasint"` // https enrollment URL of the new fleet
	CACerts [][]byte `cbor:"4,keyasint"` // the new fleet's CA certificates, DER
	Issued  int64    `cbor:"5,keyasint"` // Unix seconds; informative
	// MQTT are the new fleet's MQTT endpoints (host:port), tried before
	// those its enrollment answer names; optional.
	MQTT []string `cbor:"6,keyasint,omitempty"`
}

// check validates a ticket's fields on their own.
func (t Ticket) check() error {
	if len(t.Device) == 0 || len(t.Device) > maxInstanceID || t.Serial == 0 {
		return fmt.Errorf("%w: ticket: device or serial missing", ErrFormat)
	}
	u, err := url.Parse(t.URL)
	if err != nil || len(t.URL) > maxURL || u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
		return fmt.Errorf("%w: ticket: url %q is not an https URL with a host", ErrFormat, t.URL)
	}
	if len(t.CACerts) == 0 || len(t.CACerts) > maxCACerts {
		return fmt.Errorf("%w: ticket: %d CA certificates, want 1 to %d", ErrFormat, len(t.CACerts), maxCACerts)
	}
	if len(t.MQTT) > maxMQTT {
		return fmt.Errorf("%w: ticket: %d MQTT endpoints, limit %d", ErrFormat, len(t.MQTT), maxMQTT)
	}
	for _, e := range t.MQTT {
		if h, p, err := net.SplitHostPort(e); err != nil || h == "" || p == "" || len(e) > 261 {
			return fmt.Errorf("%w: ticket: MQTT endpoint %q is not host:port", ErrFormat, e)
		}
	}
	for i, der := range t.CACerts {
		c, err := x509.ParseCertificate(der)
		if err != nil || !c.IsCA {
			return fmt.Errorf("%w: ticket: CA certificate %d is not a CA certificate", ErrFormat, i)
		}
	}
	return nil
}

// Roots is the ticket's CA certificates as a pool (after VerifyTicket).
func (t Ticket) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	for _, der := range t.CACerts {
		if c, err := x509.ParseCertificate(der); err == nil {
			p.AddCert(c)
		}
	}
	return p
}

// SignTicket signs t with the owner's key.
func SignTicket(owner crypto.Signer, t Ticket, s Signing) ([]byte, error) {
	t.Issued = s.now().Unix()
	if err := t.check(); err != nil {
		return nil, err
	}
	payload, err := encMode.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("ownership: %w", err)
	}
	return signCOSE(owner, TicketContentType, s.Name, payload, s.rand())
}

// VerifyTicket checks a ticket: signed by owner (the final owner of a
// verified voucher), for device, at the voucher's final serial.
func VerifyTicket(b []byte, owner *ecdsa.PublicKey, device []byte, serial uint64) (*Ticket, error) {
	if len(b) > MaxTicketSize {
		return nil, fmt.Errorf("%w: ticket of %d bytes, limit %d", ErrFormat, len(b), MaxTicketSize)
	}
	msg := cose.NewSign1Message()
	if err := msg.UnmarshalCBOR(b); err != nil {
		return nil, fmt.Errorf("%w: ticket: %v", ErrFormat, err)
	}
	if ct, _ := msg.Headers.Protected[cose.HeaderLabelContentType].(string); ct != TicketContentType {
		return nil, fmt.Errorf("%w: ticket: content type %v", ErrFormat, msg.Headers.Protected[cose.HeaderLabelContentType])
	}
	if _, err := keyID(msg.Headers.Protected); err != nil {
		return nil, err
	}
	var t Ticket
	if err := decodePayload(msg.Payload, &t); err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	if err := verifyWith(msg, owner); err != nil {
		return nil, fmt.Errorf("ticket: %w", err)
	}
	if !bytes.Equal(t.Device, device) {
		return nil, fmt.Errorf("%w: ticket names device %x", ErrDevice, t.Device)
	}
	if t.Serial != serial {
		return nil, fmt.Errorf("%w: ticket for serial %d, voucher at %d", ErrChain, t.Serial, serial)
	}
	return &t, nil
}
