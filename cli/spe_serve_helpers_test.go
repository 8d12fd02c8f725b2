package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rampart/ipc"
)

// speServing is a `rampart spe serve` running in the background for a test.
type speServing struct {
	dir, sock string
	done      chan int
	stderr    *bytes.Buffer
}

// shortTempDir is a fresh directory removed when the test ends, under the
// system temporary directory rather than t.TempDir: Unix socket paths are
// limited to about 100 bytes.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// startSpeServe runs `rampart spe serve` on a fresh configuration and
// returns once it accepts connections: the socket file appears at bind,
// before listen, so its existence alone is not readiness.
func startSpeServe(t *testing.T, prefix string) *speServing {
	t.Helper()
	return startSpeServeWith(t, prefix, nil)
}

// startSpeServeWith is startSpeServe with more configuration fields.
func startSpeServeWith(t *testing.T, prefix string, extra map[string]any) *speServing {
	t.Helper()
	return startSpeServeEnv(t, prefix, extra, nil)
}

// startSpeServeEnv is startSpeServeWith with environment variables.
func startSpeServeEnv(t *testing.T, prefix string, extra map[string]any, vars map[string]string) *speServing {
	t.Helper()
	s := &speServing{dir: shortTempDir(t, prefix), done: make(chan int, 1), stderr: &bytes.Buffer{}}
	s.sock = filepath.Join(s.dir, "run", "spe.sock")
	cfg := speWriteConfigWith(t, s.dir, s.sock, extra)
	go func() {
		env := &Env{Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: s.stderr, Getenv: func(k string) string { return vars[k] }}
		s.done <- Main([]string{"spe", "serve", "--config", cfg}, env)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := ipc.Dial(s.sock)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case code := <-s.done:
			t.Fatalf("spe serve exited %d: %s", code, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("spe serve did not accept connections: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends SIGTERM (which `spe serve` handles) and checks it exits 0.
func (s *speServing) stop(t *testing.T) {
	t.Helper()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-s.done:
		if code != ExitOK {
			t.Fatalf("serve exit %d: %s", code, s.stderr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("spe serve did not stop on SIGTERM")
	}
}
