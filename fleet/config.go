package fleet

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"rampart/fleet/api"
	"rampart/fleet/trust"
	"rampart/internal/yamlerr"
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
		PassphraseEnv string `yaml:"passphrase_env"`
		// Key, when set, is a pkcs11: URI (RFC 7512) naming the CA's
		// private key in a PKCS#11 token (an HSM): the key never enters
		// the server's memory or disk. The default (empty) keeps the key
		// in data_dir, encrypted under the passphrase. With a token, the
		// passphrase keys the secrets the server derives from its CA.
		Key     string   `yaml:"key"`
		CertTTL Duration `yaml:"cert_ttl"` // device certificate lifetime; default 24h
	} `yaml:"ca"`
	NonceTTL Duration `yaml:"nonce_ttl"` // default 5m
	// Manufacturers are the keys trusted to sign endorsement lists.
	Manufacturers []struct {
		Name      string `yaml:"name"`
		PublicKey string `yaml:"public_key"` // PEM file path
	} `yaml:"manufacturers"`
	// ReleaseKeys are PEM files of keys trusted to sign release images.
	ReleaseKeys []string `yaml:"release_keys"`
	// RetiredReleaseKeys are PEM files of release keys rotated out: an
	// image they sign is refused (docs/ownership-and-rotation.md).
	RetiredReleaseKeys []string `yaml:"retired_release_keys"`
	// RetiringReleaseKeys are release keys being rotated out: trusted for
	// releases until every active device attests the key's fuse (its bit
	// in the release-key fuse claim) revoked, refused after
	// (docs/ownership-and-rotation.md, section 9; fleet/trust RetiringKey).
	RetiringReleaseKeys []struct {
		Key  string `yaml:"key"`  // PEM file path
		Fuse int    `yaml:"fuse"` // the key's index in the devices' provisioned key set, 0..31
	} `yaml:"retiring_release_keys"`
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
	// Cluster makes this server one node of several (config_cluster.go);
	// nil: a single node.
	Cluster *ClusterConfig `yaml:"cluster"`

	// Fields set by code, not by the file.
	file             string
	root             *yaml.Node
	manufacturerKeys map[string]*ecdsa.PublicKey
	releaseKeys      []any
	retiredKeys      []any // RetiredReleaseKeys, loaded
	retiringKeys     []trust.RetiringKey
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
		return nil, yamlerr.DecodeYAML(file, data, &Config{}) // the syntax error, located
	}
	var c Config
	if root.Kind != 0 { // an empty file is all defaults
		if err := yamlerr.DecodeYAML(file, data, &c); err != nil {
			return nil, err
		}
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
	for i := range c.RetiredReleaseKeys {
		c.RetiredReleaseKeys[i] = rel(c.RetiredReleaseKeys[i])
	}
	for i := range c.RetiringReleaseKeys {
		c.RetiringReleaseKeys[i].Key = rel(c.RetiringReleaseKeys[i].Key)
	}
	if c.Cluster != nil {
		c.Cluster.resolveFiles(rel)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// at returns the key node of a dotted key path ("manufacturers.0.public_key"),
// or the deepest one found, or nil.
func (c *Config) at(path string) *yaml.Node {
	if c.root == nil || c.file == "" {
		return nil
	}
	n := c.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	var at *yaml.Node
	for _, k := range strings.Split(path, ".") {
		found := false
		if idx, err := strconv.Atoi(k); err == nil && n.Kind == yaml.SequenceNode && idx >= 0 && idx < len(n.Content) {
			n = n.Content[idx]
			at, found = n, true
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					at, n, found = n.Content[i], n.Content[i+1], true
					break
				}
			}
		}
		if !found {
			break
		}
	}
	return at
}

var indexInPath = regexp.MustCompile(`\.(\d+)(\.|$)`)

// report records one problem of the configuration at a dotted key path
// ("http.admin.stall_timeout"); Validate adds the file:line of the key.
type report func(path, format string, args ...any)

// Validate applies defaults, checks every field and loads the trusted keys.
// It goes through the file section by section (config_*.go) and reports
// every problem, each with the file:line of its key.
func (c *Config) Validate() error {
	var problems []yamlerr.Problem
	bad := func(path, format string, args ...any) {
		// One style for every file (internal/yamlerr):
		// file:line:column: field.path[i]: message.
		shown := indexInPath.ReplaceAllString(path, "[$1]$2")
		shown = indexInPath.ReplaceAllString(shown, "[$1]$2")
		problems = append(problems, yamlerr.At(c.file, c.at(path), shown, format, args...))
	}
	c.validateStorage(bad)
	c.validateListen(bad)
	c.validateCA(bad)
	c.validateManufacturers(bad)
	c.validateReleaseKeys(bad)
	c.validateAPITokens(bad)
	c.validateTelemetry(bad)
	c.validateCampaigns(bad)
	c.HTTP.Enroll.validate("http.enroll", defaultEnrollHTTP, bad)
	c.HTTP.Admin.validate("http.admin", defaultAdminHTTP, bad)
	c.validateLimits(bad)
	c.validateAudit(bad)
	c.MQTT.validate(bad)
	c.validateLog(bad)
	c.validateCluster(os.Hostname, bad)
	if len(problems) == 0 {
		return nil
	}
	yamlerr.Sort(problems) // in the file's order, not the sections'
	return &yamlerr.Error{Problems: problems}
}

// TokenSHA256 is the digest form of an API token for the config file.
func TokenSHA256(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
