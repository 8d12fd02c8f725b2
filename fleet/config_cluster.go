package fleet

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"rampart/fleet/cluster"
)

// ClusterConfig is the cluster: section: present, it makes this server one
// node of several sharing one PostgreSQL database and one NATS (JetStream)
// system (docs/scale-out.md, Configuration). Absent, the server is a
// single node exactly as before.
type ClusterConfig struct {
	// Name names the cluster in NATS subjects and buckets (default
	// "rampart"); letters, digits, - and _.
	Name string `yaml:"name"`
	// Node is this node's name, unique in the cluster (default: the host
	// name); letters, digits, - and _.
	Node string `yaml:"node"`
	// NATS are the URLs of the NATS servers (nats://host:port), at least
	// one; name every server of the NATS cluster so that a node starts
	// while any one of them is down.
	NATS []string `yaml:"nats"`
	// Replicas of each JetStream bucket: 3 (default when three or more
	// NATS URLs are named) survives the loss of any one NATS server; 1 on
	// a lone server.
	Replicas int `yaml:"replicas"`
	// Advertise are the endpoints devices are given for this node: its
	// MQTT addresses (host:port) and its enrollment URL. Defaults: the
	// listen addresses.
	Advertise struct {
		MQTT   []string `yaml:"mqtt"`
		Enroll string   `yaml:"enroll"`
	} `yaml:"advertise"`
	// Auth is how the node authenticates to the NATS servers, at most
	// one method; secrets only in files (docs/security.md §8).
	Auth struct {
		Credentials  string `yaml:"credentials"`   // a .creds file (user JWT and nkey seed)
		User         string `yaml:"user"`          // with password_file
		PasswordFile string `yaml:"password_file"` // the password, alone in the file
		TokenFile    string `yaml:"token_file"`    // the token, alone in the file
	} `yaml:"auth"`
	// TLS to the NATS servers: the CA their certificates chain to and,
	// for servers requiring mutual TLS, the node's certificate and key.
	TLS struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
}

// NATSAuth is the section's credentials and TLS for cluster.Connect.
func (cl *ClusterConfig) NATSAuth() cluster.Auth {
	return cluster.Auth{Credentials: cl.Auth.Credentials, User: cl.Auth.User, PasswordFile: cl.Auth.PasswordFile,
		TokenFile: cl.Auth.TokenFile, CAFile: cl.TLS.CA, CertFile: cl.TLS.Cert, KeyFile: cl.TLS.Key}
}

// resolveFiles makes the section's file names relative to the
// configuration file's directory.
func (cl *ClusterConfig) resolveFiles(rel func(string) string) {
	for _, p := range []*string{&cl.Auth.Credentials, &cl.Auth.PasswordFile, &cl.Auth.TokenFile, &cl.TLS.CA, &cl.TLS.Cert, &cl.TLS.Key} {
		*p = rel(*p)
	}
}

// Clustered reports whether the configuration has a cluster: section.
func (c *Config) Clustered() bool { return c.Cluster != nil }

// clusterName: letters, digits, - and _ (one NATS subject token).
func clusterName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validateCluster checks the cluster: section, when present, reporting
// each problem at the file:line:column of its value.
func (c *Config) validateCluster(hostname func() (string, error), bad report) {
	cl := c.Cluster
	if cl == nil {
		return
	}
	defaultString(&cl.Name, "rampart")
	if !clusterName(cl.Name) {
		bad("cluster.name", "%q: want 1..64 letters, digits, - or _", cl.Name)
	}
	if cl.Node == "" {
		if h, err := hostname(); err == nil {
			cl.Node = strings.Map(func(r rune) rune {
				if clusterName(string(r)) {
					return r
				}
				return '-'
			}, h)
		}
	}
	if !clusterName(cl.Node) {
		bad("cluster.node", "%q: want 1..64 letters, digits, - or _", cl.Node)
	}
	if len(cl.NATS) == 0 {
		bad("cluster.nats", "required: the URLs of the NATS servers (nats://host:4222)")
	}
	for i, u := range cl.NATS {
		p, err := url.Parse(u)
		switch {
		case err != nil:
			bad(fmt.Sprintf("cluster.nats.%d", i), "%v", err)
		case p.Scheme != "nats" && p.Scheme != "tls":
			bad(fmt.Sprintf("cluster.nats.%d", i), "%q: want nats://host:port or tls://host:port", u)
		case p.Hostname() == "" || p.Port() == "":
			bad(fmt.Sprintf("cluster.nats.%d", i), "%q: want a host and a port", u)
		case p.User != nil:
			bad(fmt.Sprintf("cluster.nats.%d", i), "credentials in the URL: not supported in the configuration file")
		}
	}
	if cl.Replicas == 0 {
		cl.Replicas = 1
		if len(cl.NATS) >= 3 {
			cl.Replicas = 3
		}
	}
	if cl.Replicas < 1 || cl.Replicas > 5 {
		bad("cluster.replicas", "%d: want 1..5", cl.Replicas)
	}
	if len(cl.Advertise.MQTT) == 0 {
		cl.Advertise.MQTT = []string{c.Listen.MQTT}
	}
	defaultString(&cl.Advertise.Enroll, "https://"+c.Listen.Enroll)
	for i, a := range cl.Advertise.MQTT {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			bad(fmt.Sprintf("cluster.advertise.mqtt.%d", i), "%q: want host:port", a)
		}
	}
	if cl.Advertise.Enroll != "" {
		if p, err := url.Parse(cl.Advertise.Enroll); err != nil || p.Scheme != "https" || p.Host == "" {
			bad("cluster.advertise.enroll", "%q: want https://host[:port]", cl.Advertise.Enroll)
		}
	}
	for _, p := range cl.NATSAuth().Check() {
		section := "cluster.auth."
		if p.Field == "ca" || p.Field == "cert" {
			section = "cluster.tls."
		}
		bad(section+p.Field, "%v", p.Err)
	}
	if !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		bad("cluster", "nodes share one PostgreSQL database: set database to a postgres:// URL (SQLite is single-node)")
	}
}
