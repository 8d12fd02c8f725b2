package fleet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/store/storetest"
	"rampart/fleet/trust"
	"rampart/image"
	"rampart/swcomponent"
)

const testPassphrase = "correct horse battery staple"

// Tokens used by the tests, with their roles.
const (
	adminToken    = "admin-secret-token"
	operatorToken = "operator-secret-token"
	viewerToken   = "viewer-secret-token"
)

// fixture is a running fleet server with one manufacturer, one release key
// and one registered release.
type fixture struct {
	t            *testing.T
	srv          *Server
	dir          string
	mfr          *ecdsa.PrivateKey
	relKey       *ecdsa.PrivateKey
	release      []byte // signed image
	relInfo      component
	http         *http.Client
	cfgPath      string
	backend      string
	clock        atomic.Int64  // offset added to the server clock
	jobTTL       time.Duration // validity of the jobs the server signs (default when 0)
	renewalGrace time.Duration // Options.RenewalGrace
	// onlyListedNATS: the node connects only to its configured NATS URLs.
	onlyListedNATS bool
	// Where the server listens and the CA it uses (in-process or child).
	enrollURL, adminURL, mqttAddr string
	pool                          *x509.CertPool
}

type component struct {
	swType, version string
	digest, signer  []byte
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// configText is the server configuration the fixture uses.
func configText(database string) string {
	return fmt.Sprintf(`data_dir: data
database: %q
listen:
  enroll: 127.0.0.1:0
  admin: 127.0.0.1:0
  mqtt: 127.0.0.1:0
ca:
  name: Test fleet CA
  passphrase_env: RAMPART_TEST_CA_PASSPHRASE
  cert_ttl: 1h
manufacturers:
  - name: acme
    public_key: acme.pub.pem
release_keys: [release.pub.pem]
api_tokens:
  - {name: root, role: admin, sha256: %s}
  - {name: ops, role: operator, sha256: %s}
  - {name: dash, role: viewer, sha256: %s}
telemetry:
  retention: 24h
  max_delay: 1ms
log:
  level: warn
  format: text
`, database, TokenSHA256(adminToken), TokenSHA256(operatorToken), TokenSHA256(viewerToken))
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	f := prepareFixture(t, backend)
	f.startRegistered()
	return f
}

// startRegistered starts the server and registers the fixture's release.
func (f *fixture) startRegistered() {
	f.t.Helper()
	f.start()
	if _, err := trust.RegisterRelease(context.Background(), f.srv.Store(), f.release, f.srv.cfg.releaseKeys, "test", "test"); err != nil {
		f.t.Fatal(err)
	}
}

// prepareFixture writes the keys, the configuration and a signed release,
// without starting a server.
func prepareFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), mfr: genKey(t), relKey: genKey(t), backend: backend}
	pub, _ := x509.MarshalPKIXPublicKey(&f.mfr.PublicKey)
	writePEM(t, filepath.Join(f.dir, "acme.pub.pem"), "PUBLIC KEY", pub)
	rpub, _ := x509.MarshalPKIXPublicKey(&f.relKey.PublicKey)
	writePEM(t, filepath.Join(f.dir, "release.pub.pem"), "PUBLIC KEY", rpub)
	db := ""
	if backend == "postgres" {
		db = storetest.PostgresDSN(t)
	}
	f.cfgPath = filepath.Join(f.dir, "server.yaml")
	if err := os.WriteFile(f.cfgPath, []byte(configText(db)), 0o600); err != nil {
		t.Fatal(err)
	}
	// A signed release with a boot record, as the bootloader would measure it.
	v, _ := image.ParseVersion("1.2.3")
	res, err := image.Sign(bytes.Repeat([]byte{0xA5}, 4096), &image.SignOptions{Key: f.relKey, HeaderSize: 0x200, PadHeader: true, Version: v, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	f.release = res.Bytes
	signer, _ := image.KeyHash(&f.relKey.PublicKey, image.SHA256)
	f.relInfo = component{swType: "SPE", version: "1.2.3", digest: res.Digest, signer: signer}
	return f
}

func (f *fixture) start() {
	t := f.t
	cfg, err := LoadConfig(f.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, Options{Passphrase: []byte(testPassphrase), Rand: rand.Reader, JobTTL: f.jobTTL, RenewalGrace: f.renewalGrace, ClusterOnlyListedNATS: f.onlyListedNATS,
		Now: func() time.Time { return time.Now().Add(time.Duration(f.clock.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	<-srv.Ready()
	f.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	f.setEndpoints(srv.EnrollURL(), srv.AdminURL(), srv.MQTTAddr(), srv.CA().Pool())
}

func (f *fixture) setEndpoints(enrollURL, adminURL, mqttAddr string, pool *x509.CertPool) {
	f.enrollURL, f.adminURL, f.mqttAddr, f.pool = enrollURL, adminURL, mqttAddr, pool
	f.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// device is a simulated device: an attestation key (endorsed) and a
// device key (the CSR's).
type device struct {
	f      *fixture
	iak    *ecdsa.PrivateKey
	key    *ecdsa.PrivateKey
	id     string
	inst   []byte
	impl   []byte
	cert   *x509.Certificate
	claims func(c *attest.Claims) // optional tweak before signing
	signer *ecdsa.PrivateKey      // token signer; iak when nil
}

var devSeq atomic.Int64

// newDevices creates n devices and imports their endorsements signed by
// the manufacturer.
func (f *fixture) newDevices(n int) []*device {
	f.t.Helper()
	list := &attest.EndorsementList{}
	var out []*device
	impl := bytes.Repeat([]byte{0x11}, 32)
	for range n {
		d := &device{f: f, iak: genKey(f.t), key: genKey(f.t), impl: impl}
		d.inst, _ = attest.InstanceID(&d.iak.PublicKey)
		d.id = trust.DeviceID(d.inst)
		if err := list.Add(attest.Endorsement{PublicKey: &d.iak.PublicKey, ImplementationID: impl, Comment: fmt.Sprintf("dev %d", devSeq.Add(1))}); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, d)
	}
	var lb bytes.Buffer
	if err := list.WriteJSON(&lb); err != nil {
		f.t.Fatal(err)
	}
	signed, err := attest.SignEndorsements(lb.Bytes(), "acme", f.mfr, rand.Reader)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.srv == nil { // a child process: import through the admin API
		if st, body := f.api("POST", "/api/v1/endorsements", adminToken, string(signed)); st != 200 {
			f.t.Fatalf("import: %d %s", st, body)
		}
	} else if _, err := trust.Import(context.Background(), f.srv.Store(), signed, f.srv.cfg.manufacturerKeys, "test"); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// claimsFor builds the device's token claims for a nonce.
func (d *device) claimsFor(nonce []byte) *attest.Claims {
	c := &attest.Claims{
		Nonce:            nonce,
		ImplementationID: d.impl,
		ClientID:         -1,
		Lifecycle:        attest.LifecycleSecured,
		SoftwareComponents: []swcomponent.Component{{
			MeasurementType: d.f.relInfo.swType, MeasurementValue: d.f.relInfo.digest, Version: d.f.relInfo.version,
			SignerID: d.f.relInfo.signer, MeasurementDescription: "SHA256",
		}},
	}
	if d.claims != nil {
		d.claims(c)
	}
	return c
}

func (d *device) attest(_ context.Context, nonce []byte) ([]byte, error) {
	s := d.signer
	if s == nil {
		s = d.iak
	}
	c := d.claimsFor(nonce)
	if d.signer != nil && c.InstanceID == nil {
		c.InstanceID = d.inst // claim the endorsed identity with another key
	}
	return attest.Sign(c, s, rand.Reader)
}

func (d *device) client() *deviceproto.Client {
	return &deviceproto.Client{URL: d.f.enrollURL, HTTP: d.f.http}
}

func (d *device) enroll(renew bool) error {
	cert, err := d.client().Enroll(context.Background(), d.key, rand.Reader, d.attest, renew)
	if err == nil {
		d.cert = cert
	}
	return err
}

// tlsCert is the device's client certificate for MQTT.
func (d *device) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{d.cert.Raw}, PrivateKey: d.key, Leaf: d.cert}
}

// mqtt connects with MQTT 5 as clientID (the device id when empty).
func (d *device) mqtt(clientID string) (*paho.Client, *paho.Connack, error) {
	if clientID == "" {
		clientID = d.id
	}
	return mqttConnect(d.f, d.tlsCert(), clientID)
}

func mqttConnect(f *fixture, cert tls.Certificate, clientID string) (*paho.Client, *paho.Connack, error) {
	conn, err := tls.Dial("tcp", f.mqttAddr, &tls.Config{RootCAs: f.pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, nil, err
	}
	if err := conn.Handshake(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	// Acknowledged means durably committed: under heavy disk load (CI
	// compiling while PostgreSQL fsyncs) a commit can take seconds, so the
	// client waits far longer than paho's 10 s default before calling a
	// packet lost. These are deadlines against hangs, not timing checks.
	c := paho.NewClient(paho.ClientConfig{Conn: conn, PacketTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, KeepAlive: 30, CleanStart: true})
	if err != nil {
		conn.Close()
		return nil, ca, err
	}
	return c, ca, nil
}
