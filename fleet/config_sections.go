package fleet

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rampart/hsm"
)

// defaultString sets *p to v when it is empty.
func defaultString(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// validateStorage checks data_dir, database and sqlite_synchronous, and
// puts the SQLite database in data_dir when no database is named.
func (c *Config) validateStorage(bad report) {
	if c.DataDir == "" {
		bad("data_dir", "required")
	}
	if name, ok := strings.CutPrefix(c.Database, "env:"); ok {
		c.Database = os.Getenv(name)
		if c.Database == "" {
			bad("database", "environment variable %s is empty", name)
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
}

// validateListen applies the default server names and listen addresses
// and checks that each address has a host and a port.
func (c *Config) validateListen(bad report) {
	if len(c.ServerNames) == 0 {
		c.ServerNames = []string{"localhost", "127.0.0.1"}
	}
	defaultString(&c.Listen.Enroll, "127.0.0.1:8443")
	defaultString(&c.Listen.Admin, "127.0.0.1:8444")
	defaultString(&c.Listen.MQTT, "127.0.0.1:8883")
	for _, l := range []struct{ key, addr string }{{"listen.enroll", c.Listen.Enroll}, {"listen.admin", c.Listen.Admin}, {"listen.mqtt", c.Listen.MQTT}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			bad(l.key, "%v", err)
		}
	}
}

// validateCA checks what enrollment issues: the CA's certificate
// lifetime and passphrase variable (ca) and the nonce lifetime (nonce_ttl).
func (c *Config) validateCA(bad report) {
	defaultString(&c.CA.PassphraseEnv, "RAMPART_CA_PASSPHRASE")
	if c.CA.CertTTL.Duration == 0 {
		c.CA.CertTTL.Duration = 24 * time.Hour
	}
	if c.CA.CertTTL.Duration < time.Minute || c.CA.CertTTL.Duration > 90*24*time.Hour {
		bad("ca.cert_ttl", "%v: want 1m..2160h (short-lived certificates)", c.CA.CertTTL)
	}
	if c.CA.Key != "" {
		if _, err := hsm.ParseURI(c.CA.Key); err != nil {
			bad("ca.key", "%v", err)
		} else if c.Clustered() {
			bad("ca.key", "a CA key in a PKCS#11 token is supported on a single node only (the nodes of a cluster share the CA through the store)")
		}
	}
	if c.NonceTTL.Duration == 0 {
		c.NonceTTL.Duration = 5 * time.Minute
	}
	if c.NonceTTL.Duration < time.Second || c.NonceTTL.Duration > time.Hour {
		bad("nonce_ttl", "%v: want 1s..1h", c.NonceTTL)
	}
}

// validateTelemetry applies the defaults of telemetry and checks them.
func (c *Config) validateTelemetry(bad report) {
	t := &c.Telemetry
	if t.Retention.Duration == 0 {
		t.Retention.Duration = 30 * 24 * time.Hour
	}
	if t.Retention.Duration < time.Minute {
		bad("telemetry.retention", "%v: want at least 1m", t.Retention)
	}
	if t.MaxBatch == 0 {
		t.MaxBatch = 5000
	}
	if t.MaxBatch < 1 || t.MaxBatch > 100000 {
		bad("telemetry.max_batch", "%d: want 1..100000", t.MaxBatch)
	}
	if t.MaxDelay.Duration == 0 {
		t.MaxDelay.Duration = 2 * time.Millisecond
	}
	if t.MaxDelay.Duration > time.Second {
		bad("telemetry.max_delay", "%v: want at most 1s", t.MaxDelay)
	}
	if t.CompactInterval.Duration == 0 {
		t.CompactInterval.Duration = 10 * time.Second
	}
	if t.CompactInterval.Duration < 10*time.Millisecond || t.CompactInterval.Duration > time.Hour {
		bad("telemetry.compact_interval", "%v: want 10ms..1h", t.CompactInterval)
	}
}

// validateCampaigns applies the default engine tick and checks the
// campaign settings.
func (c *Config) validateCampaigns(bad report) {
	if c.Campaigns.Tick.Duration == 0 {
		c.Campaigns.Tick.Duration = time.Second
	}
	if c.Campaigns.Tick.Duration < 10*time.Millisecond || c.Campaigns.Tick.Duration > 5*time.Second {
		bad("campaigns.tick", "%v: want 10ms..5s (a crossed failure threshold must pause within 60s)", c.Campaigns.Tick)
	}
	if c.Campaigns.BytesPerSecond < 0 {
		bad("campaigns.bytes_per_second", "%d: want 0 (no limit) or more", c.Campaigns.BytesPerSecond)
	}
}

// validateLog applies the default level and format and checks them.
func (c *Config) validateLog(bad report) {
	defaultString(&c.Log.Level, "info")
	defaultString(&c.Log.Format, "json")
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		bad("log.format", "%q: want json or text", c.Log.Format)
	}
}
