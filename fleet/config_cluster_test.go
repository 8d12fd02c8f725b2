package fleet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterConfig(t *testing.T) {
	c, err := ParseConfig("/etc/rampart/server.yaml", []byte(`data_dir: /var/lib/rampart
database: postgres://rampart@db/fleet
cluster:
  node: node-a
  nats: [nats://10.0.0.1:4222, nats://10.0.0.2:4222, nats://10.0.0.3:4222]
  advertise:
    mqtt: [node-a.example:8883]
`))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Cluster
	if !c.Clustered() || cl.Name != "rampart" || cl.Node != "node-a" || cl.Replicas != 3 || len(cl.NATS) != 3 ||
		len(cl.Advertise.MQTT) != 1 || cl.Advertise.Enroll != "https://127.0.0.1:8443" {
		t.Fatalf("cluster = %+v", cl)
	}
	// No cluster: section: a single node, as before.
	c, err = ParseConfig("s.yaml", []byte("data_dir: d\n"))
	if err != nil || c.Clustered() {
		t.Fatalf("no section: %v %v", err, c.Cluster)
	}
	// The node name defaults to the host name, made a valid token.
	c = &Config{Database: "postgres://x/y", Cluster: &ClusterConfig{NATS: []string{"nats://h:4222"}}}
	c.Listen.MQTT, c.Listen.Enroll = "h:1", "h:2"
	var errs []string
	c.validateCluster(func() (string, error) { return "web.1", nil }, func(p, f string, a ...any) { errs = append(errs, p) })
	if c.Cluster.Node != "web-1" || c.Cluster.Replicas != 1 || len(errs) != 0 {
		t.Fatalf("node %q replicas %d errs %v", c.Cluster.Node, c.Cluster.Replicas, errs)
	}
	c = &Config{Database: "postgres://x/y", Cluster: &ClusterConfig{NATS: []string{"nats://h:4222"}}}
	c.Listen.MQTT, c.Listen.Enroll = "h:1", "h:2"
	c.validateCluster(func() (string, error) { return "", errors.New("no host name") }, func(p, f string, a ...any) { errs = append(errs, p) })
	if len(errs) != 1 || errs[0] != "cluster.node" {
		t.Fatalf("no host name: %v", errs)
	}
}

// TestClusterConfigErrors: every problem of the section is reported with
// the file:line:column of its key (of the item, in a list), in the
// one style of internal/yamlerr.
func TestClusterConfigErrors(t *testing.T) {
	_, err := ParseConfig("c.yaml", []byte(`data_dir: d
cluster:
  name: "a.b"
  node: "x y"
  nats: [nats://h:4222, "http://h:80", nats://nohost, "nats://u:p@h:1"]
  replicas: 9
  advertise:
    mqtt: [ok:1, noport]
    enroll: http://plain
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:3:3: cluster.name: "a.b": want`,
		`c.yaml:4:3: cluster.node: "x y": want`,
		`c.yaml:5:25: cluster.nats[1]: "http://h:80": want nats://`,
		`c.yaml:5:40: cluster.nats[2]: "nats://nohost": want a host and a port`,
		`c.yaml:5:55: cluster.nats[3]: credentials in the URL`,
		`c.yaml:6:3: cluster.replicas: 9: want 1..5`,
		`c.yaml:8:18: cluster.advertise.mqtt[1]: "noport": want host:port`,
		`c.yaml:9:5: cluster.advertise.enroll: "http://plain": want https://`,
		`c.yaml:2:1: cluster: nodes share one PostgreSQL database`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = ParseConfig("c.yaml", []byte("data_dir: d\ndatabase: postgres://h/db\ncluster:\n  node: a\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:3:1: cluster.nats: required") {
		t.Fatalf("no nats: %v", err)
	}
}

// TestClusterAuthConfigErrors: the NATS credentials and TLS files are
// read and parsed by the configuration check, each problem at the
// file:line:column of its key; two methods at once are refused; file
// names are relative to the configuration file.
func TestClusterAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("empty", "\n")
	write("not.creds", "hello")
	write("not.pem", "hello")
	_, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte(`data_dir: d
database: postgres://h/db
cluster:
  nats: [tls://h:4222]
  auth:
    credentials: not.creds
    user: rampart
    password_file: missing
  tls:
    ca: not.pem
    cert: not.pem
`))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`c.yaml:6:5: cluster.auth.credentials: choose one of`,
		`c.yaml:6:5: cluster.auth.credentials: ` + filepath.Join(dir, "not.creds") + `: not a NATS credentials file`,
		`c.yaml:8:5: cluster.auth.password_file: password: open ` + filepath.Join(dir, "missing"),
		`c.yaml:10:5: cluster.tls.ca: ` + filepath.Join(dir, "not.pem") + `: no PEM certificate`,
		`c.yaml:11:5: cluster.tls.cert: cert and key go together`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	_, err = ParseConfig(filepath.Join(dir, "c.yaml"), []byte("database: postgres://h/db\ncluster:\n  nats: [nats://h:1]\n  auth:\n    token_file: empty\n"))
	if err == nil || !strings.Contains(err.Error(), "c.yaml:5:5: cluster.auth.token_file: token: "+filepath.Join(dir, "empty")+" is empty") {
		t.Fatalf("empty token: %v", err)
	}
	write("token", "s3cret\n")
	c, err := ParseConfig(filepath.Join(dir, "c.yaml"), []byte("data_dir: d\ndatabase: postgres://h/db\ncluster:\n  nats: [nats://h:1]\n  auth:\n    token_file: token\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Cluster.NATSAuth(); a.TokenFile != filepath.Join(dir, "token") {
		t.Fatalf("auth %+v", a)
	}
}
