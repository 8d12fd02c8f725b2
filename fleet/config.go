package fleet

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"rampart/attest"
	"rampart/fleet/api"
	"rampart/image"
)

// Config is the server's configuration file (examples/fleet/server.yaml).
type Config struct {
	// DataDir holds the CA files and, by default, the SQLite database.
	DataDir string `yaml:"data_dir"`
	// Database is a postgres:// URL or a SQLite file path; default
	// DataDir/fleet.db. "env:NAME" reads it from the environment.
	Database string `yaml:"database"`
	// SQLiteSynchronous is FULL (default: a commit, and so an
	// acknowledgement, survives a power cut), NORMAL (survives kill -9 but
	// may lose the last commits on a power cut) or EXTRA.
	SQLiteSynchronous string `yaml:"sqlite_synchronous"`
	// ServerNames are the DNS names and IP addresses in the server's TLS
	// certificate (default localhost and 127.0.0.1).
	ServerNames []string `yaml:"server_names"`
	Listen      struct {
		Enroll string `yaml:"enroll"` // HTTPS enrollment (EST); default 127.0.0.1:8443
		Admin  string `yaml:"admin"`  // HTTPS admin API and /metrics; default 127.0.0.1:8444
		MQTT   string `yaml:"mqtt"`   // MQTT over mutual TLS; default 127.0.0.1:8883
	} `yaml:"listen"`
	CA struct {
		Name string `yaml:"name"`
		// PassphraseEnv names the environment variable holding the CA key
		// passphrase (default RAMPART_CA_PASSPHRASE). The passphrase is
		// never read from the file itself.
		PassphraseEnv string   `yaml:"passphrase_env"`
		CertTTL       Duration `yaml:"cert_ttl"` // device certificate lifetime; default 24h
	} `yaml:"ca"`
	NonceTTL Duration `yaml:"nonce_ttl"` // default 5m
	// Manufacturers are the keys trusted to sign endorsement lists.
	Manufacturers []struct {
		Name      string `yaml:"name"`
		PublicKey string `yaml:"public_key"` // PEM file path
	} `yaml:"manufacturers"`
	// ReleaseKeys are PEM files of keys trusted to sign release images.
	ReleaseKeys []string `yaml:"release_keys"`
	// APITokens admit admin API callers; only SHA-256 digests are stored.
	APITokens []api.TokenConfig `yaml:"api_tokens"`
	Telemetry struct {
		Retention Duration `yaml:"retention"` // default 30 days
		MaxBatch  int      `yaml:"max_batch"` // default 5000
		MaxDelay  Duration `yaml:"max_delay"` // default 2ms
		// CompactInterval is the period of the compaction of pending
		// telemetry batches into per-series chunks; default 10s.
		CompactInterval Duration `yaml:"compact_interval"`
	} `yaml:"telemetry"`
	Campaigns struct {
		// BytesPerSecond limits each image download; 0 means no limit.
		BytesPerSecond int64    `yaml:"bytes_per_second"`
		Tick           Duration `yaml:"tick"` // evaluation period; default 1s, at most 5s
	} `yaml:"campaigns"`
	Log struct {
		Level  string `yaml:"level"`  // debug, info (default), warn, error
		Format string `yaml:"format"` // json (default) or text
	} `yaml:"log"`
	// HTTP bounds each HTTPS listener (docs/fleet-server.md, Listener limits).
	HTTP struct {
		Enroll HTTPLimits `yaml:"enroll"`
		Admin  HTTPLimits `yaml:"admin"`
	} `yaml:"http"`
	// MQTT bounds each broker connection (config_mqtt.go).
	MQTT MQTTLimits `yaml:"mqtt"`
	// Limits are request budgets per source (an IPv4 address, an IPv6 /64).
	Limits struct {
		NonceRate    float64 `yaml:"nonce_rate"`    // nonce requests a second; default 20
		NonceBurst   int     `yaml:"nonce_burst"`   // default 100
		FailureRate  float64 `yaml:"failure_rate"`  // failed requests a second, per listener; default 1
		FailureBurst int     `yaml:"failure_burst"` // default 30
		Sources      int     `yaml:"sources"`       // sources each table tracks; default 65536
	} `yaml:"limits"`
	Audit struct {
		Retention Duration `yaml:"retention"` // entries older are deleted (hourly); default 2160h (90 days)
		MaxRows   int64    `yaml:"max_rows"`  // at most this many entries are kept; default 10,000,000
		// BurstWindow: a refusal repeated from one source within it is
		// counted, not written; default 1m.
		BurstWindow Duration `yaml:"burst_window"`
	} `yaml:"audit"`

	// Fields set by code, not by the file.
	file             string
	root             *yaml.Node
	manufacturerKeys map[string]*ecdsa.PublicKey
	releaseKeys      []any
}

// HTTPLimits bound one HTTPS listener.
type HTTPLimits struct {
	// ReadHeaderTimeout: the TLS handshake and the request's headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout: the whole request, headers and body.
	ReadTimeout Duration `yaml:"read_timeout"`
	// StallTimeout: the longest a request body or a response may stop
	// moving (a slow but moving transfer may take longer in all).
	StallTimeout Duration `yaml:"stall_timeout"`
	// IdleTimeout: a kept-alive connection between requests.
	IdleTimeout       Duration `yaml:"idle_timeout"`
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	MaxConns          int      `yaml:"max_conns"`            // open at once
	MaxConnsPerSource int      `yaml:"max_conns_per_source"` // open at once from one source
}

// Defaults of the listeners' limits: the enrollment listener serves small
// requests from many devices (and paced image downloads, which the stall
// timeout lets run as long as they move); the admin listener takes image
// uploads of up to 64 MiB from few clients.
var (
	defaultEnrollHTTP = HTTPLimits{ReadHeaderTimeout: Duration{10 * time.Second}, ReadTimeout: Duration{30 * time.Second},
		StallTimeout: Duration{10 * time.Second}, IdleTimeout: Duration{60 * time.Second}, MaxHeaderBytes: 64 << 10, MaxConns: 4096, MaxConnsPerSource: 64}
	defaultAdminHTTP = HTTPLimits{ReadHeaderTimeout: Duration{10 * time.Second}, ReadTimeout: Duration{10 * time.Minute},
		StallTimeout: Duration{30 * time.Second}, IdleTimeout: Duration{60 * time.Second}, MaxHeaderBytes: 16 << 10, MaxConns: 256, MaxConnsPerSource: 16}
)

// validate applies def to the zero fields of h and checks the result.
func (h *HTTPLimits) validate(path string, def HTTPLimits, bad func(path, format string, args ...any)) {
	dur := func(d *Duration, dv Duration, key string, lo, hi time.Duration) {
		if d.Duration == 0 {
			*d = dv
		}
		if d.Duration < lo || d.Duration > hi {
			bad(path+"."+key, "%v: want %v..%v", d.Duration, lo, hi)
		}
	}
	dur(&h.ReadHeaderTimeout, def.ReadHeaderTimeout, "read_header_timeout", 10*time.Millisecond, 10*time.Minute)
	dur(&h.ReadTimeout, def.ReadTimeout, "read_timeout", 10*time.Millisecond, 24*time.Hour)
	dur(&h.StallTimeout, def.StallTimeout, "stall_timeout", 10*time.Millisecond, time.Hour)
	dur(&h.IdleTimeout, def.IdleTimeout, "idle_timeout", 10*time.Millisecond, time.Hour)
	num := func(v *int, dv int, key string, lo, hi int) {
		if *v == 0 {
			*v = dv
		}
		if *v < lo || *v > hi {
			bad(path+"."+key, "%d: want %d..%d", *v, lo, hi)
		}
	}
	num(&h.MaxHeaderBytes, def.MaxHeaderBytes, "max_header_bytes", 4<<10, 1<<20)
	num(&h.MaxConns, def.MaxConns, "max_conns", 1, 1_000_000)
	num(&h.MaxConnsPerSource, def.MaxConnsPerSource, "max_conns_per_source", 1, max(h.MaxConns, 1))
}

// Duration is a time.Duration written as "90s", "24h".
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: duration %q: %v", n.Line, n.Value, err)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// LoadConfig reads and validates a configuration file. Errors carry
// file:line where a line is known.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses configuration text named file, resolves the key files
// relative to the file's directory and validates it.
func ParseConfig(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("fleet: config: %s: %v", file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("fleet: config: %s: %v", file, err)
	}
	c.file, c.root = file, &root
	dir := filepath.Dir(file)
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	c.DataDir = rel(c.DataDir)
	for i := range c.Manufacturers {
		c.Manufacturers[i].PublicKey = rel(c.Manufacturers[i].PublicKey)
	}
	for i := range c.ReleaseKeys {
		c.ReleaseKeys[i] = rel(c.ReleaseKeys[i])
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// at formats "file:line: " for a dotted key path, when known.
func (c *Config) at(path string) string {
	if c.root == nil || c.file == "" {
		return ""
	}
	n := c.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, k := range strings.Split(path, ".") {
		found := false
		if idx, err := strconv.Atoi(k); err == nil && n.Kind == yaml.SequenceNode && idx >= 0 && idx < len(n.Content) {
			n = n.Content[idx]
			line, found = n.Line, true
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
		}
		if !found {
			break
		}
	}
	if line == 0 {
		return c.file + ": "
	}
	return fmt.Sprintf("%s:%d: ", c.file, line)
}

// Validate applies defaults, checks every field and loads the trusted keys.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("fleet: config: %s%s: %s", c.at(path), path, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	if strings.HasPrefix(c.Database, "env:") {
		c.Database = os.Getenv(strings.TrimPrefix(c.Database, "env:"))
		if c.Database == "" {
			bad("database", "environment variable %s is empty", strings.TrimPrefix(c.Database, "env:"))
		}
	}
	switch strings.ToUpper(c.SQLiteSynchronous) {
	case "", "FULL", "NORMAL", "EXTRA":
	default:
		bad("sqlite_synchronous", "%q: want FULL, NORMAL or EXTRA", c.SQLiteSynchronous)
	}
	if c.Database == "" && c.DataDir != "" {
		c.Database = filepath.Join(c.DataDir, "fleet.db")
	}
	if len(c.ServerNames) == 0 {
		c.ServerNames = []string{"localhost", "127.0.0.1"}
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Listen.Enroll, "127.0.0.1:8443")
	def(&c.Listen.Admin, "127.0.0.1:8444")
	def(&c.Listen.MQTT, "127.0.0.1:8883")
	for name, a := range map[string]string{"listen.enroll": c.Listen.Enroll, "listen.admin": c.Listen.Admin, "listen.mqtt": c.Listen.MQTT} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad(name, "%v", err)
		}
	}
	def(&c.CA.PassphraseEnv, "RAMPART_CA_PASSPHRASE")
	if c.CA.CertTTL.Duration == 0 {
		c.CA.CertTTL.Duration = 24 * time.Hour
	}
	if c.CA.CertTTL.Duration < time.Minute || c.CA.CertTTL.Duration > 90*24*time.Hour {
		bad("ca.cert_ttl", "%v: want 1m..2160h (short-lived certificates)", c.CA.CertTTL)
	}
	if c.NonceTTL.Duration == 0 {
		c.NonceTTL.Duration = 5 * time.Minute
	}
	if c.NonceTTL.Duration < time.Second || c.NonceTTL.Duration > time.Hour {
		bad("nonce_ttl", "%v: want 1s..1h", c.NonceTTL)
	}
	c.manufacturerKeys = map[string]*ecdsa.PublicKey{}
	for i, m := range c.Manufacturers {
		p := fmt.Sprintf("manufacturers.%d", i)
		if m.Name == "" {
			bad(p, "name required")
		}
		if _, dup := c.manufacturerKeys[m.Name]; dup {
			bad(p, "duplicate name %q", m.Name)
		}
		b, err := os.ReadFile(m.PublicKey)
		if err != nil {
			bad(p, "public_key: %v", err)
			continue
		}
		k, err := attest.ParsePublicKeyPEM(b)
		if err != nil {
			bad(p, "public_key %s: %v", m.PublicKey, err)
			continue
		}
		c.manufacturerKeys[m.Name] = k
	}
	c.releaseKeys = nil
	for i, f := range c.ReleaseKeys {
		b, err := os.ReadFile(f)
		if err != nil {
			bad(fmt.Sprintf("release_keys.%d", i), "%v", err)
			continue
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			bad(fmt.Sprintf("release_keys.%d", i), "%s: %v", f, err)
			continue
		}
		c.releaseKeys = append(c.releaseKeys, k)
	}
	for i, t := range c.APITokens {
		if err := t.Validate(); err != nil {
			bad(fmt.Sprintf("api_tokens.%d", i), "%v", err)
		}
	}
	if c.Telemetry.Retention.Duration == 0 {
		c.Telemetry.Retention.Duration = 30 * 24 * time.Hour
	}
	if c.Telemetry.Retention.Duration < time.Minute {
		bad("telemetry.retention", "%v: want at least 1m", c.Telemetry.Retention)
	}
	if c.Telemetry.MaxBatch == 0 {
		c.Telemetry.MaxBatch = 5000
	}
	if c.Telemetry.MaxBatch < 1 || c.Telemetry.MaxBatch > 100000 {
		bad("telemetry.max_batch", "%d: want 1..100000", c.Telemetry.MaxBatch)
	}
	if c.Telemetry.MaxDelay.Duration == 0 {
		c.Telemetry.MaxDelay.Duration = 2 * time.Millisecond
	}
	if c.Telemetry.MaxDelay.Duration > time.Second {
		bad("telemetry.max_delay", "%v: want at most 1s", c.Telemetry.MaxDelay)
	}
	if c.Telemetry.CompactInterval.Duration == 0 {
		c.Telemetry.CompactInterval.Duration = 10 * time.Second
	}
	if c.Telemetry.CompactInterval.Duration < 10*time.Millisecond || c.Telemetry.CompactInterval.Duration > time.Hour {
		bad("telemetry.compact_interval", "%v: want 10ms..1h", c.Telemetry.CompactInterval)
	}
	if c.Campaigns.Tick.Duration == 0 {
		c.Campaigns.Tick.Duration = time.Second
	}
	if c.Campaigns.Tick.Duration < 10*time.Millisecond || c.Campaigns.Tick.Duration > 5*time.Second {
		bad("campaigns.tick", "%v: want 10ms..5s (a crossed failure threshold must pause within 60s)", c.Campaigns.Tick)
	}
	if c.Campaigns.BytesPerSecond < 0 {
		bad("campaigns.bytes_per_second", "%d: want 0 (no limit) or more", c.Campaigns.BytesPerSecond)
	}
	c.HTTP.Enroll.validate("http.enroll", defaultEnrollHTTP, bad)
	c.HTTP.Admin.validate("http.admin", defaultAdminHTTP, bad)
	c.validateLimits(bad)
	c.MQTT.validate(bad)
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "json")
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q: want json or text", c.Log.Format)
	}
	return errors.Join(errs...)
}

// TokenSHA256 is the digest form of an API token for the config file.
func TokenSHA256(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// validateLimits applies the defaults of limits and audit and checks them.
func (c *Config) validateLimits(bad func(path, format string, args ...any)) {
	l := &c.Limits
	rate := func(v *float64, dv float64, key string) {
		if *v == 0 {
			*v = dv
		}
		if !(*v > 0 && *v <= 1e6) {
			bad(key, "%g: want more than 0, at most 1e6 a second", *v)
		}
	}
	count := func(v *int, dv int, key string, lo, hi int) {
		if *v == 0 {
			*v = dv
		}
		if *v < lo || *v > hi {
			bad(key, "%d: want %d..%d", *v, lo, hi)
		}
	}
	rate(&l.NonceRate, 20, "limits.nonce_rate")
	count(&l.NonceBurst, 100, "limits.nonce_burst", 1, 1_000_000)
	rate(&l.FailureRate, 1, "limits.failure_rate")
	count(&l.FailureBurst, 30, "limits.failure_burst", 1, 1_000_000)
	count(&l.Sources, 65536, "limits.sources", 16, 10_000_000)
	a := &c.Audit
	if a.Retention.Duration == 0 {
		a.Retention.Duration = 90 * 24 * time.Hour
	}
	if a.Retention.Duration < time.Hour {
		bad("audit.retention", "%v: want at least 1h", a.Retention.Duration)
	}
	if a.MaxRows == 0 {
		a.MaxRows = 10_000_000
	}
	if a.MaxRows < 1000 {
		bad("audit.max_rows", "%d: want at least 1000", a.MaxRows)
	}
	if a.BurstWindow.Duration == 0 {
		a.BurstWindow.Duration = time.Minute
	}
	if a.BurstWindow.Duration < 100*time.Millisecond || a.BurstWindow.Duration > time.Hour {
		bad("audit.burst_window", "%v: want 100ms..1h", a.BurstWindow.Duration)
	}
}
