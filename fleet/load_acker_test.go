package fleet

// The load test's floor: a mutual-TLS MQTT "acker" that answers CONNECT
// with CONNACK and each QoS 1 PUBLISH with PUBACK and stores nothing, run
// as a child process of the test binary (envAcker). Its TLS configuration
// has the fleet broker's shape (P-256 server key, TLS 1.2 or later, a
// client certificate verified against the fleet CA, client identifier =
// certificate common name), so fleet/acker is what the broker, the
// telemetry pipeline and the store add to mTLS and MQTT framing alone.
// It must never be more than a measuring instrument: no ACL, no storage.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// envAcker makes the test binary run the acker instead of its tests: the
// value is the fleet CA certificate file (PEM) that client certificates
// must chain to. The check runs in init, before TestMain.
const envAcker = "RAMPART_FLEET_TEST_ACKER_CA"

func init() {
	if path := os.Getenv(envAcker); path != "" {
		if err := runAcker(path); err != nil {
			fmt.Fprintln(os.Stderr, "acker:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
}

type ackerAddr struct {
	Addr string
	Cert []byte // the acker's self-signed server certificate, DER
}

func runAcker(caPath string) error {
	pemCA, err := os.ReadFile(caPath)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		return fmt.Errorf("%s: no certificate", caPath)
	}
	tc, der, err := ackerTLS(pool)
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(ackerAddr{ln.Addr().String(), der}); err != nil {
		return err
	}
	return serveAcker(ln, false)
}

// ackerTLS is the acker's TLS configuration: a fresh self-signed P-256
// server certificate (returned, DER) and client certificates verified
// against pool, as the fleet broker does (minus its store lookups).
func ackerTLS(pool *x509.CertPool) (*tls.Config, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rampart load acker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no client certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
			return err
		},
	}, der, nil
}

// serveAcker serves ln until it fails. reorder (tests only) swaps each
// pair of PUBACKs, to check that the client notices.
func serveAcker(ln net.Listener, reorder bool) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go ackConn(c.(*tls.Conn), reorder)
	}
}

// ackConn serves one connection: CONNACK, PUBACK, PINGRESP; PUBACKs are
// written in order and flushed when no more input is buffered.
func ackConn(c *tls.Conn, reorder bool) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return
	}
	cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName
	r := bufio.NewReaderSize(c, 4096)
	w := bufio.NewWriterSize(c, 4096)
	buf := make([]byte, 512)
	var out []byte
	version := byte(0)
	var held uint16 // reorder: the PUBACK not sent yet
	for {
		h, body, err := readPacket(r, buf, 64<<10)
		if err != nil {
			return
		}
		out = out[:0]
		switch {
		case version == 0 && h>>4 == pktConnect:
			v, id, _, err := parseConnect(body)
			if err != nil || id != cn {
				return
			}
			version = v
			out = appendConnack(out, version)
		case version == 0:
			return
		case h>>4 == pktPublish:
			qos, id, _, err := parsePublish(h, body, version)
			if err != nil {
				return
			}
			if qos == 1 && reorder {
				if held == 0 {
					held = id
				} else {
					out = appendPuback(appendPuback(out, id), held)
					held = 0
				}
			} else if qos == 1 {
				out = appendPuback(out, id)
			}
		case h>>4 == pktPingreq:
			out = append(out, pktPingresp<<4, 0)
		default: // DISCONNECT or anything this acker does not serve
			return
		}
		if _, err := w.Write(out); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// startAcker runs the acker as a child process trusting the CA in caPath,
// and returns its address, a TLS configuration for clientCert that trusts
// it, and the process.
func startAcker(t *testing.T, caPath string) (string, *x509.CertPool, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envAcker+"="+caPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var a ackerAddr
	if err := json.NewDecoder(out).Decode(&a); err != nil {
		t.Fatalf("acker did not start: %v", err)
	}
	cert, err := x509.ParseCertificate(a.Cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return a.Addr, pool, cmd
}
