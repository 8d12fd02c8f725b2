package fleet

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/config_errors.golden")

// badConfigs break every check Validate makes, section by section, so the
// golden file holds each message with its file:line.
var badConfigs = []struct{ name, text string }{
	{"every section", `database: env:RAMPART_TEST_SURELY_UNSET_VARIABLE
sqlite_synchronous: fast
server_names: [a]
listen:
  admin: nocolon
ca:
  cert_ttl: 1s
nonce_ttl: 2h
manufacturers:
  - name: ""
    public_key: missing/nope.pem
  - name: acme
    public_key: ../examples/fleet/acme.pub.pem
  - name: acme
    public_key: ../examples/fleet/acme.pub.pem
  - name: bad
    public_key: ../examples/fleet/server.yaml
release_keys: [missing/rel.pem, ../examples/fleet/README.md]
api_tokens:
  - {name: a, role: root, sha256: 00}
  - {role: admin, sha256: 00}
  - {name: c, role: admin, sha256: 00}
telemetry:
  retention: 1s
  max_batch: -1
  max_delay: 2s
  compact_interval: 1ms
campaigns:
  tick: 1m
  bytes_per_second: -1
http:
  enroll: {max_conns: 10, max_conns_per_source: 11, max_header_bytes: 1}
  admin:
    stall_timeout: 2h
    read_header_timeout: 1ms
    read_timeout: 48h
    idle_timeout: 2h
limits:
  nonce_rate: -3
  nonce_burst: -1
  failure_rate: 2e6
  failure_burst: -1
  sources: 3
audit:
  retention: 1m
  max_rows: 10
  burst_window: 1ms
mqtt:
  max_packet_size: 100
  max_retained_bytes: 1
  max_subscriptions: 0
  message_rate: -1
  receive_maximum: 5000
  max_inflight: 70000
  max_keepalive: 100h
  write_timeout: 1ms
  handshake_timeout: 1h
  max_handshakes_per_source: -2
log: {level: loud, format: xml}
`},
	{"listen enroll", "data_dir: d\nlisten: {enroll: x}\n"},
	{"listen mqtt", "data_dir: d\nlisten: {mqtt: x}\n"},
	{"unknown field", "data_dir: d\nlisten:\n  mqtt: x\n  bogus: 1\n"},
	{"bad duration", "data_dir: d\nnonce_ttl: soon\n"},
}

// TestConfigErrorsGolden: the full text of Validate's errors (every
// message, its file:line and their order) is what the golden file holds.
func TestConfigErrorsGolden(t *testing.T) {
	var out strings.Builder
	for _, c := range badConfigs {
		_, err := ParseConfig("c.yaml", []byte(c.text))
		if err == nil {
			t.Fatalf("%s: accepted", c.name)
		}
		out.WriteString("### " + c.name + "\n" + err.Error() + "\n")
	}
	golden := filepath.Join("testdata", "config_errors.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Fatalf("config errors changed:\n got:\n%s\nwant:\n%s", out.String(), want)
	}
}
