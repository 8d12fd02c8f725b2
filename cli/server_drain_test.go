package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rampart/fleet"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestServerSIGTERMDrains: `rampart server` answers /livez and /readyz on
// its admin listener without a token, and on SIGTERM drains and exits 0.
func TestServerSIGTERMDrains(t *testing.T) {
	dir := t.TempDir()
	mfr, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mpub, _ := x509.MarshalPKIXPublicKey(&mfr.PublicKey)
	fleetPEM(t, filepath.Join(dir, "acme.pub.pem"), "PUBLIC KEY", mpub)
	fleetPEM(t, filepath.Join(dir, "release.pub.pem"), "PUBLIC KEY", mpub)
	cfgPath := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: data
listen: {enroll: "127.0.0.1:0", admin: "127.0.0.1:0", mqtt: "127.0.0.1:0"}
manufacturers: [{name: acme, public_key: acme.pub.pem}]
release_keys: [release.pub.pem]
api_tokens: [{name: root, role: admin, sha256: %s}]
log: {level: info, format: json}
`, fleet.TokenSHA256("admin-tok"))), 0o600)
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"server", "--config", cfgPath}, &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr,
			Getenv: func(k string) string {
				return map[string]string{"RAMPART_CA_PASSPHRASE": "a passphrase for the test CA"}[k]
			}})
	}()
	var admin string
	deadline := time.Now().Add(time.Minute) // against hangs
	for admin == "" {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var e struct{ Msg, Admin, CA string }
			if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "fleet server started" {
				admin = e.Admin
				// The start-up line names the CA certificate clients need as --ca.
				if want, _ := filepath.Abs(filepath.Join(dir, "data", "ca.crt")); e.CA != want {
					t.Fatalf("started line names CA %q, want %q: %s", e.CA, want, line)
				}
			}
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pem, err := os.ReadFile(filepath.Join(dir, "data", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, path := range []string{"/livez", "/readyz"} {
		resp, err := c.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok\n" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, b)
		}
	}
	// The command registered for SIGTERM before it started: this process
	// is not killed, the server drains.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(stderr.String(), `"msg":"drained"`) {
			t.Fatalf("after SIGTERM: exit %d, log:\n%s", code, stderr.String())
		}
	case <-time.After(time.Minute): // against hangs
		t.Fatal("the server did not exit after SIGTERM")
	}
}
