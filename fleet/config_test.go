package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigErrorsNameFileLine(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ text, want string }{
		"unknown field": {"data_dir: d\nlisten:\n  mqtt: x\n  bogus: 1\n", "c.yaml:4:3: listen.bogus: unknown field \"bogus\" (known fields: admin, enroll, mqtt)"},
		"bad duration":  {"data_dir: d\nnonce_ttl: soon\n", "c.yaml:2:12: nonce_ttl: duration \"soon\""},
		"ttl range":     {"data_dir: d\nca:\n  cert_ttl: 1s\n", "c.yaml:3:3: ca.cert_ttl"},
		"no data dir":   {"log:\n  level: info\n", "data_dir: required"},
		"bad address":   {"data_dir: d\nlisten:\n  admin: nocolon\n", "c.yaml:3:3: listen.admin"},
		"missing key":   {"data_dir: d\nmanufacturers:\n  - name: acme\n    public_key: nope.pem\n", "c.yaml:3:5: manufacturers[0]"},
		"bad role":      {"data_dir: d\napi_tokens:\n  - {name: a, role: root, sha256: 00}\n", "c.yaml:3:5: api_tokens[0]"},
		"bad level":     {"data_dir: d\nlog: {level: loud}\n", "log.level"},
		"slow tick":     {"data_dir: d\ncampaigns: {tick: 1m}\n", "c.yaml:2:13: campaigns.tick"},
		"negative rate": {"data_dir: d\ncampaigns:\n  bytes_per_second: -1\n", "campaigns.bytes_per_second"},
		"stall range":   {"data_dir: d\nhttp:\n  admin:\n    stall_timeout: 2h\n", "c.yaml:4:5: http.admin.stall_timeout"},
		"per source":    {"data_dir: d\nhttp:\n  enroll: {max_conns: 10, max_conns_per_source: 11}\n", "http.enroll.max_conns_per_source"},
		"nonce rate":    {"data_dir: d\nlimits:\n  nonce_rate: -3\n", "c.yaml:3:3: limits.nonce_rate"},
		"audit rows":    {"data_dir: d\naudit:\n  max_rows: 10\n", "c.yaml:3:3: audit.max_rows"},
		"mqtt packet":   {"data_dir: d\nmqtt:\n  max_packet_size: 100\n", "c.yaml:3:3: mqtt.max_packet_size"},
		"mqtt retained": {"data_dir: d\nmqtt:\n  max_packet_size: 40000\n  max_retained_bytes: 50000\n", "c.yaml:4:3: mqtt.max_retained_bytes"},
		"mqtt window":   {"data_dir: d\nmqtt: {receive_maximum: 5000}\n", "c.yaml:2:8: mqtt.receive_maximum"},
		"mqtt rate":     {"data_dir: d\nmqtt:\n  message_rate: -1\n", "c.yaml:3:3: mqtt.message_rate"},
		"mqtt subs":     {"data_dir: d\nmqtt:\n  max_subscriptions: 100000\n", "mqtt.max_subscriptions"},
		"mqtt inflight": {"data_dir: d\nmqtt:\n  max_inflight: 70000\n", "mqtt.max_inflight"},
		"mqtt keep":     {"data_dir: d\nmqtt:\n  max_keepalive: 100h\n", "c.yaml:3:3: mqtt.max_keepalive"},
		"mqtt write":    {"data_dir: d\nmqtt:\n  write_timeout: 1ms\n", "c.yaml:3:3: mqtt.write_timeout"},
		"mqtt shake":    {"data_dir: d\nmqtt:\n  handshake_timeout: 1h\n", "mqtt.handshake_timeout"},
		"mqtt sources":  {"data_dir: d\nmqtt:\n  max_handshakes_per_source: -2\n", "c.yaml:3:3: mqtt.max_handshakes_per_source"},
		"mqtt shakes":   {"data_dir: d\nmqtt:\n  max_handshakes: -1\n", "c.yaml:3:3: mqtt.max_handshakes"},
		"mqtt auths":    {"data_dir: d\nmqtt:\n  max_authentications: 5000\n", "c.yaml:3:3: mqtt.max_authentications"},
		"mqtt wait":     {"data_dir: d\nmqtt:\n  auth_wait: 2m\n", "c.yaml:3:3: mqtt.auth_wait"},
		"retiring fuse": {"data_dir: d\nretiring_release_keys:\n  - {key: nope.pem, fuse: 40}\n", "c.yaml:3:21: retiring_release_keys[0].fuse: 40: want 0..31"},
		"mqtt unknown":  {"data_dir: d\nmqtt:\n  max_will: 3\n", "c.yaml:3:3: mqtt.max_will: unknown field \"max_will\" (known fields: auth_wait, handshake_timeout,"},
		"empty env":     {"data_dir: d\ndatabase: env:RAMPART_TEST_SURELY_UNSET_VARIABLE\n", "c.yaml:2:1: database"},
	} {
		_, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestConfigDefaultsAndExample(t *testing.T) {
	c, err := ParseConfig("/etc/rampart/server.yaml", []byte("data_dir: /var/lib/rampart\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != "/var/lib/rampart/fleet.db" || c.CA.CertTTL.Duration != 24*time.Hour || c.Listen.MQTT != "127.0.0.1:8883" || c.CA.PassphraseEnv != "RAMPART_CA_PASSPHRASE" || c.Campaigns.Tick.Duration != time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if c.HTTP.Admin != defaultAdminHTTP || c.HTTP.Enroll != defaultEnrollHTTP || c.Limits.NonceRate != 20 || c.Limits.FailureBurst != 30 || c.Audit.MaxRows != 10_000_000 || c.Audit.Retention.Duration != 90*24*time.Hour {
		t.Fatalf("limit defaults: %+v %+v %+v", c.HTTP, c.Limits, c.Audit)
	}
	if c.MQTT != defaultMQTT || c.MQTT.MaxPacketSize != 64<<10 || c.MQTT.ReceiveMaximum != 64 || c.MQTT.MaxKeepalive.Duration != 10*time.Minute {
		t.Fatalf("mqtt defaults: %+v", c.MQTT)
	}
	// The shipped example validates (with its key files).
	ex := filepath.Join("..", "examples", "fleet", "server.yaml")
	if _, err := os.Stat(ex); err != nil {
		t.Skip("examples/fleet/server.yaml absent")
	}
	if _, err := LoadConfig(ex); err != nil {
		t.Fatalf("example: %v", err)
	}
}

// TestConfigProblemsInFileOrder: the sections are validated in a fixed
// order, but the problems are reported in the file's (line, column).
func TestConfigProblemsInFileOrder(t *testing.T) {
	text := "log: {level: loud}\nmqtt:\n  max_packet_size: 100\ndata_dir: d\nca:\n  cert_ttl: 1s\nlisten: {enroll: nocolon, admin: alsonocolon}\n"
	_, err := ParseConfig("c.yaml", []byte(text))
	if err == nil {
		t.Fatal("an invalid configuration was accepted")
	}
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		lines = append(lines, strings.SplitN(l, ": ", 3)[0]+": "+strings.SplitN(l, ": ", 3)[1])
	}
	want := []string{"c.yaml:1:7: log.level", "c.yaml:3:3: mqtt.max_packet_size", "c.yaml:6:3: ca.cert_ttl", "c.yaml:7:10: listen.enroll", "c.yaml:7:27: listen.admin"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("problems\n%s\nwant, in this order\n%s\n(the error: %v)", strings.Join(lines, "\n"), strings.Join(want, "\n"), err)
	}
}
