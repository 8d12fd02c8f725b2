package cluster

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
)

// Auth is how a node proves itself to the NATS servers and checks theirs.
// Secrets are named by file, never given inline (a command line and a
// configuration file are read by more people than a 0600 secret file).
// At most one of Credentials, User (with PasswordFile) and TokenFile.
type Auth struct {
	// Credentials is a NATS .creds file: a user JWT and its nkey seed
	// (NATS decentralized authentication).
	Credentials string
	// User and PasswordFile: user and password authentication, the
	// password the file's content (a final newline is not part of it).
	User, PasswordFile string
	// TokenFile holds a token (token authentication).
	TokenFile string
	// CAFile are the CA certificates (PEM) the servers' certificates must
	// chain to; set, the connection is TLS.
	CAFile string
	// CertFile and KeyFile are the node's client certificate and key (PEM)
	// for servers that require mutual TLS; both or neither.
	CertFile, KeyFile string
}

// readSecret reads a secret from a file: trimmed of surrounding white
// space, and not empty.
func readSecret(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", what, path)
	}
	return s, nil
}

// AuthProblem is one problem Check finds: the field it is about
// (credentials, user, password_file, token_file, ca, cert) and what.
type AuthProblem struct {
	Field string
	Err   error
}

func (p AuthProblem) Error() string { return p.Field + ": " + p.Err.Error() }

// Check reads and parses every file a names, without connecting: the
// configuration check.
func (a Auth) Check() []AuthProblem {
	var errs []AuthProblem
	add := func(field string, err error) { errs = append(errs, AuthProblem{field, err}) }
	methods := 0
	for _, set := range []bool{a.Credentials != "", a.User != "" || a.PasswordFile != "", a.TokenFile != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		add("credentials", errors.New("choose one of credentials, user with password_file, and token_file"))
	}
	if a.Credentials != "" {
		if b, err := os.ReadFile(a.Credentials); err != nil {
			add("credentials", err)
		} else if !bytes.Contains(b, []byte("BEGIN NATS USER JWT")) || !bytes.Contains(b, []byte("BEGIN USER NKEY SEED")) {
			add("credentials", fmt.Errorf("%s: not a NATS credentials file (want a user JWT and an nkey seed, as nsc generate creds writes)", a.Credentials))
		}
	}
	if (a.User == "") != (a.PasswordFile == "") {
		add("user", errors.New("user and password_file go together"))
	} else if a.PasswordFile != "" {
		if _, err := readSecret("password", a.PasswordFile); err != nil {
			add("password_file", err)
		}
	}
	if a.TokenFile != "" {
		if _, err := readSecret("token", a.TokenFile); err != nil {
			add("token_file", err)
		}
	}
	if a.CAFile != "" {
		if _, err := loadPool(a.CAFile); err != nil {
			add("ca", err)
		}
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		add("cert", errors.New("cert and key go together"))
	} else if a.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile); err != nil {
			add("cert", err)
		}
	}
	return errs
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}

// options are the nats.Options that apply a.
func (a Auth) options() ([]nats.Option, error) {
	if probs := a.Check(); len(probs) > 0 {
		var errs []error
		for _, p := range probs {
			errs = append(errs, p)
		}
		return nil, fmt.Errorf("cluster: NATS authentication: %w", errors.Join(errs...))
	}
	var opts []nats.Option
	switch {
	case a.Credentials != "":
		opts = append(opts, nats.UserCredentials(a.Credentials))
	case a.User != "":
		pw, _ := readSecret("password", a.PasswordFile)
		opts = append(opts, nats.UserInfo(a.User, pw))
	case a.TokenFile != "":
		tok, _ := readSecret("token", a.TokenFile)
		opts = append(opts, nats.Token(tok))
	}
	if a.CAFile != "" || a.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if a.CAFile != "" {
			tc.RootCAs, _ = loadPool(a.CAFile)
		}
		if a.CertFile != "" {
			cert, _ := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

// explain adds what an operator should look at to a connection error
// made with a.
func (a Auth) explain(err error) error {
	switch {
	case errors.Is(err, nats.ErrAuthorization), errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked):
		return fmt.Errorf("%w (the servers refused this node's credentials: check cluster.auth)", err)
	case errors.Is(err, nats.ErrSecureConnRequired):
		return fmt.Errorf("%w (the servers require TLS: set cluster.tls.ca)", err)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("%w (cluster.tls is set, but the servers do not offer TLS)", err)
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) {
		return fmt.Errorf("%w (the server's certificate does not verify against cluster.tls.ca)", err)
	}
	// A server requiring a client certificate closes the connection after
	// the handshake (TLS 1.3) or fails it with an alert.
	if a.CertFile == "" && strings.Contains(err.Error(), "tls") {
		return fmt.Errorf("%w (the servers may require a client certificate: set cluster.tls.cert and key)", err)
	}
	return err
}
