package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"rampart/fleet/cluster"
	"rampart/fleet/cluster/natstest"
)

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// connectWith joins the cluster at urls with auth; the node is closed at
// the end of the test.
func connectWith(t *testing.T, urls []string, name string, auth cluster.Auth) (*cluster.Node, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := cluster.Connect(ctx, cluster.Config{URLs: urls, Auth: auth, Node: name, Version: "test", Replicas: 1})
	if err == nil {
		t.Cleanup(func() { n.Close() })
	}
	return n, err
}

// TestAuthUserPasswordAndMutualTLS: a NATS server requiring a user and
// password and a client certificate under its CA admits a node that has
// all three, and refuses, each with an error naming what to fix, a node
// with a wrong password, one without a client certificate, one that does
// not trust the server's CA and one without TLS settings (the client
// follows the server to TLS, and cannot verify it).
func TestAuthUserPasswordAndMutualTLS(t *testing.T) {
	pki := natstest.NewTLSFiles(t)
	c := natstest.StartWith(t, 1, func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = tc, true, true, 2
		o.Username, o.Password = "rampart", "correct horse"
	})
	urls := c.URLs()
	good := cluster.Auth{User: "rampart", PasswordFile: secretFile(t, "correct horse"),
		CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	a, err := connectWith(t, urls, "a", good)
	if err != nil {
		t.Fatalf("the node with every credential: %v", err)
	}
	if err := a.UseOnce(context.Background(), "k"); err != nil {
		t.Fatalf("JetStream through the authenticated connection: %v", err)
	}
	if srv, err := cluster.Check(context.Background(), urls, good); err != nil || srv == "" {
		t.Fatalf("Check with every credential: %q %v", srv, err)
	}
	wrongPassword, noCert, noCA, noTLS := good, good, good, good
	wrongPassword.PasswordFile = secretFile(t, "wrong")
	noCert.CertFile, noCert.KeyFile = "", ""
	noCA.CAFile = ""
	noTLS.CAFile, noTLS.CertFile, noTLS.KeyFile = "", "", ""
	for _, tc := range []struct {
		name string
		auth cluster.Auth
		want []string
	}{
		{"wrong password", wrongPassword, []string{"Authorization Violation", "check cluster.auth"}},
		{"no client certificate", noCert, []string{"cluster.tls.cert"}},
		{"server CA not trusted", noCA, []string{"cluster.tls.ca"}},
		{"no TLS", noTLS, []string{"cluster.tls.ca"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := connectWith(t, urls, "b", tc.auth)
			if err == nil {
				t.Fatal("admitted")
			}
			_, cerr := cluster.Check(context.Background(), urls, tc.auth)
			for _, e := range []error{err, cerr} {
				for _, w := range tc.want {
					if e == nil || !strings.Contains(e.Error(), w) {
						t.Errorf("error %v: want %q in it", e, w)
					}
				}
			}
		})
	}
}

// TestAuthToken: a server requiring a token admits a node with the token
// from its file and refuses one with another token.
func TestAuthToken(t *testing.T) {
	c := natstest.StartWith(t, 1, func(o *server.Options) { o.Authorization = "s3cret-token" })
	if _, err := connectWith(t, c.URLs(), "a", cluster.Auth{TokenFile: secretFile(t, "s3cret-token")}); err != nil {
		t.Fatalf("right token: %v", err)
	}
	_, err := connectWith(t, c.URLs(), "b", cluster.Auth{TokenFile: secretFile(t, "guess")})
	if err == nil || !strings.Contains(err.Error(), "check cluster.auth") {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := connectWith(t, c.URLs(), "c", cluster.Auth{}); err == nil {
		t.Fatal("no token: admitted")
	}
}

// TestAuthCredentialsFile: a NATS server in operator mode (decentralized
// JWT authentication) admits a node with a .creds file of a user of a
// trusted account, and refuses one whose user is signed by an account
// the server does not know.
func TestAuthCredentialsFile(t *testing.T) {
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opClaims := jwt.NewOperatorClaims(opPub)
	opJWT, err := opClaims.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	opDecoded, err := jwt.DecodeOperatorClaims(opJWT)
	if err != nil {
		t.Fatal(err)
	}
	account := func(jetStream bool) (nkeys.KeyPair, string, string) {
		acc, _ := nkeys.CreateAccount()
		pub, _ := acc.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if jetStream {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		j, err := ac.Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		return acc, pub, j
	}
	creds := func(acc nkeys.KeyPair) string {
		u, _ := nkeys.CreateUser()
		upub, _ := u.PublicKey()
		uj, err := jwt.NewUserClaims(upub).Encode(acc)
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := u.Seed()
		b, err := jwt.FormatUserConfig(uj, seed)
		if err != nil {
			t.Fatal(err)
		}
		return secretFile(t, string(b))
	}
	trusted, trustedPub, trustedJWT := account(true)
	stranger, _, _ := account(true)
	_, sysPub, sysJWT := account(false) // the server's own account: never JetStream
	resolver := &server.MemAccResolver{}
	if err := errors.Join(resolver.Store(trustedPub, trustedJWT), resolver.Store(sysPub, sysJWT)); err != nil {
		t.Fatal(err)
	}
	c := natstest.StartWith(t, 1, func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{opDecoded}
		o.AccountResolver = resolver
		o.SystemAccount = sysPub
	})
	a, err := connectWith(t, c.URLs(), "a", cluster.Auth{Credentials: creds(trusted)})
	if err != nil {
		t.Fatalf("trusted user: %v", err)
	}
	if err := a.UseOnce(context.Background(), "k"); err != nil {
		t.Fatalf("JetStream for the trusted account: %v", err)
	}
	_, err = connectWith(t, c.URLs(), "b", cluster.Auth{Credentials: creds(stranger)})
	if err == nil || !strings.Contains(err.Error(), "check cluster.auth") {
		t.Fatalf("user of an unknown account: %v", err)
	}
}
