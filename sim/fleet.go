package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"rampart/adminapi"
	"rampart/deviceproto"
	"rampart/fleet"
	"rampart/fleet/trust"
	"rampart/image"
	"rampart/internal/secfile"
)

// AdminToken is the admin API token of the simulated fleet.
const AdminToken = "rampart-sim-admin-token"

// Fleet is an in-process fleet server with the keys a simulation needs: the
// manufacturer's endorsement key, the firmware signing key (also the
// devices' boot key and the fleet's release key) and an HTTPS image server
// (for jobs published outside campaigns).
type Fleet struct {
	Dir     string
	Server  *fleet.Server
	Mfr     *ecdsa.PrivateKey // signs endorsements
	Release *ecdsa.PrivateKey // signs firmware (nil in a joined process)
	Rand    io.Reader

	// Where devices reach the fleet, and the roots they trust.
	EnrollURL, MQTTAddr, AdminURL string
	roots                         *x509.CertPool
	anchors                       []*x509.Certificate // the certificates of roots in a joined process
	bootKey                       *ecdsa.PublicKey    // the devices' boot key (release public key)

	// EnrollFallbacks are the fleet's other enrollment URLs (its other
	// nodes), tried in turn when EnrollURL fails (agent.Config).
	EnrollFallbacks []string

	// One admin-API client for every call (admin): a client per call
	// left an idle connection each, and 10,000 endorsement imports
	// reached the admin listener's connection cap.
	adminOnce   sync.Once
	adminClient *adminapi.Client

	images   sync.Map // name -> []byte
	imgSrv   *http.Server
	imgLis   net.Listener
	releases []any

	nodes nodes // further server nodes on the same data (nodes.go)
}

// FleetOptions configure StartFleet.
type FleetOptions struct {
	Dir     string
	CertTTL time.Duration // device certificate lifetime (default 24h)
	Rand    io.Reader
	Now     func() time.Time
	Log     io.Writer // server log (text, warn level); discarded when nil
	// Tokens are admin-API tokens besides AdminToken (the console's tests
	// sign in as a viewer and an operator).
	Tokens []FleetToken
	// Manufacturer and Release, when set, are the keys of another fleet
	// (a second owner of the same devices trusts the same manufacturer
	// and firmware): new ones are made otherwise.
	Manufacturer, Release *ecdsa.PrivateKey
	// RetiredRelease is a release key the fleet retired (configured in
	// retired_release_keys), or nil.
	RetiredRelease *ecdsa.PublicKey
}

// FleetToken is an extra admin-API token of a simulated fleet.
type FleetToken struct {
	Name, Role, Token string
}

// StartFleet creates keys and a configuration in o.Dir and starts a fleet
// server listening on 127.0.0.1:0, with SQLite in o.Dir.
func StartFleet(o FleetOptions) (*Fleet, error) {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.CertTTL <= 0 {
		o.CertTTL = 24 * time.Hour
	}
	f := &Fleet{Dir: o.Dir, Rand: o.Rand}
	var err error
	if f.Mfr = o.Manufacturer; f.Mfr == nil {
		if f.Mfr, err = ecdsa.GenerateKey(elliptic.P256(), o.Rand); err != nil {
			return nil, err
		}
	}
	if f.Release = o.Release; f.Release == nil {
		if f.Release, err = ecdsa.GenerateKey(elliptic.P256(), o.Rand); err != nil {
			return nil, err
		}
	}
	f.releases = []any{&f.Release.PublicKey}
	for name, k := range map[string]*ecdsa.PrivateKey{"manufacturer.pub.pem": f.Mfr, "release.pub.pem": f.Release} {
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err := secfile.WriteFile(filepath.Join(o.Dir, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
			return nil, err
		}
	}
	retiredKeys := ""
	if o.RetiredRelease != nil {
		der, _ := x509.MarshalPKIXPublicKey(o.RetiredRelease)
		if err := secfile.WriteFile(filepath.Join(o.Dir, "retired.pub.pem"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})); err != nil {
			return nil, err
		}
		retiredKeys = "\nretired_release_keys: [retired.pub.pem]"
	}
	cfgText := fleetConfig(o.CertTTL, [3]string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}, extraTokens(o.Tokens), retiredKeys)
	path := filepath.Join(o.Dir, "server.yaml")
	if err := secfile.WriteFile(path, []byte(cfgText)); err != nil {
		return nil, err
	}
	cfg, err := fleet.ParseConfig(path, []byte(cfgText))
	if err != nil {
		return nil, err
	}
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	pass := make([]byte, 24)
	if _, err := io.ReadFull(o.Rand, pass); err != nil {
		return nil, err
	}
	// The image server's address is known before the fleet starts: the
	// fleet certifies it as an image endpoint in its job signer's
	// certificate, the only way devices accept a URL off the enrollment
	// listener.
	rawLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f.nodes.opts = fleet.Options{Passphrase: []byte(hex.EncodeToString(pass)), Rand: o.Rand, Now: o.Now,
		Log:            slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ImageEndpoints: []string{"https://" + rawLis.Addr().String()}, PeerMQTT: f.nodes.mqtt}
	f.nodes.cfgPath, f.nodes.cfgText = path, cfgText
	srv, err := fleet.New(cfg, f.nodes.opts)
	if err != nil {
		rawLis.Close()
		return nil, err
	}
	if err := srv.Start(); err != nil {
		rawLis.Close()
		return nil, err
	}
	<-srv.Ready()
	f.Server = srv
	f.nodes.add(srv)
	f.EnrollURL, f.MQTTAddr, f.AdminURL = srv.EnrollURL(), srv.MQTTAddr(), srv.AdminURL()
	f.roots, f.bootKey = srv.CA().Pool(), &f.Release.PublicKey
	tc, err := f.imageTLS()
	if err != nil {
		rawLis.Close()
		f.Close()
		return nil, err
	}
	f.imgLis = tls.NewListener(rawLis, tc)
	f.imgSrv = &http.Server{Handler: http.HandlerFunc(f.serveImage), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second}
	go f.imgSrv.Serve(f.imgLis)
	return f, nil
}

// fleetConfig is a simulated fleet's configuration: its listeners
// (enroll, admin, MQTT), the sim manufacturer and release key (in the
// files StartFleet writes), the admin token, limits for a fleet whose
// devices all come from 127.0.0.1; tokens end the api_tokens list, tail
// ends the file.
func fleetConfig(certTTL time.Duration, listen [3]string, tokens, tail string) string {
	return fmt.Sprintf(`data_dir: fleet-data
listen: {enroll: %q, admin: %q, mqtt: %q}
ca: {name: Rampart simulated fleet CA, cert_ttl: %s}
manufacturers: [{name: sim, public_key: manufacturer.pub.pem}]
release_keys: [release.pub.pem]
api_tokens: [{name: sim, role: admin, sha256: %s}%s]%s
telemetry: {max_delay: 2ms}
log: {level: warn, format: text}
# Every simulated device comes from 127.0.0.1: one source for the
# per-source limits, which are meant for devices on the Internet.
limits: {nonce_rate: 1000000, nonce_burst: 1000000, failure_rate: 1000000, failure_burst: 1000000}
# Device processes (--processes) import endorsements through the admin
# API in parallel, all from 127.0.0.1 too.
http: {enroll: {max_conns: 100000, max_conns_per_source: 100000}, admin: {max_conns: 4096, max_conns_per_source: 4096}}
`, listen[0], listen[1], listen[2], certTTL, fleet.TokenSHA256(AdminToken), tokens, tail)
}

// imageTLS is the image server's TLS configuration: a certificate for
// 127.0.0.1 from the fleet CA, which devices trust (plain http is refused).
func (f *Fleet) imageTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), f.Rand)
	if err != nil {
		return nil, err
	}
	cert, err := f.Server.CA().IssueServer(&key.PublicKey, []string{"127.0.0.1"}, 90*24*time.Hour) // as the fleet's own: skewed device clocks still accept it
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}}, nil
}

// Close stops the image server and the fleet server (every node).
func (f *Fleet) Close() error {
	if f.imgSrv != nil {
		f.imgSrv.Close()
	}
	if f.adminClient != nil {
		f.adminClient.HTTP.CloseIdleConnections()
	}
	f.nodes.closeOthers(f.Server)
	if f.Server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.Server.Shutdown(ctx)
}

// Roots is the pool devices trust for the fleet server.
func (f *Fleet) Roots() *x509.CertPool { return f.roots }

// Anchors are the certificates of Roots: the CA in use and, during a
// rotation, its predecessor.
func (f *Fleet) Anchors() []*x509.Certificate {
	if f.Server == nil {
		return f.anchors
	}
	return append([]*x509.Certificate{f.Server.CA().Certificate()}, f.Server.CA().Accepted()...)
}

// serveImage serves published images with Range support (http.ServeContent).
func (f *Fleet) serveImage(w http.ResponseWriter, r *http.Request) {
	v, ok := f.images.Load(filepath.Base(r.URL.Path))
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(v.([]byte)))
}

// Host makes data downloadable as name (over https, from the image
// endpoint the fleet certified) and returns the job describing it.
func (f *Fleet) Host(jobID, name, version string, data []byte) deviceproto.Job {
	f.images.Store(name, data)
	sum := sha256.Sum256(data)
	return deviceproto.Job{ID: jobID, Version: version, URL: "https://" + f.imgLis.Addr().String() + "/images/" + name,
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

// SignFirmware builds firmware of the given version signed with the release
// key (security counter from the version, a boot record for attestation).
func (f *Fleet) SignFirmware(version string, size int) ([]byte, error) {
	v, err := image.ParseVersion(version)
	if err != nil {
		return nil, err
	}
	fw := make([]byte, 0, size)
	blk := sha256.Sum256([]byte("rampart sim firmware " + version))
	for len(fw) < size {
		fw = append(fw, blk[:]...)
		blk = sha256.Sum256(blk[:])
	}
	sc := v.SecurityCounter()
	res, err := image.Sign(fw[:size], &image.SignOptions{Key: f.Release, HeaderSize: 32, PadHeader: true, Version: v,
		SecurityCounter: &sc, BootRecord: "SPE", Rand: f.Rand})
	if err != nil {
		return nil, err
	}
	return res.Bytes, nil
}

// RegisterRelease registers a signed image: its measurement becomes a
// reference value that enrollment accepts.
func (f *Fleet) RegisterRelease(ctx context.Context, img []byte, comment string) error {
	_, err := trust.RegisterRelease(ctx, f.Server.Store(), img, f.releases, comment, "sim")
	return err
}

// extraTokens renders tokens as further entries of api_tokens.
func extraTokens(tokens []FleetToken) string {
	var b strings.Builder
	for _, t := range tokens {
		fmt.Fprintf(&b, ", {name: %q, role: %s, sha256: %s}", t.Name, t.Role, fleet.TokenSHA256(t.Token))
	}
	return b.String()
}

// admin is the fleet's admin-API client, made at the first call and
// shared (its connections are kept alive and reused).
func (f *Fleet) admin() *adminapi.Client {
	f.adminOnce.Do(func() { f.adminClient = adminapi.NewClient(f.AdminURL, AdminToken, f.roots) })
	return f.adminClient
}
