package agent

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDownloadFileTightened: a partial image an older agent left 0644 is
// made 0600 before the agent writes to it (here it is already complete, so
// no request is made and only the file handling is exercised).
func TestDownloadFileTightened(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	data := []byte("firmware image bytes")
	srv := httptest.NewTLSServer(nil) // never asked: the file is complete
	defer srv.Close()
	a := testAgent(t, srv, nil)
	p := filepath.Join(a.cfg.Dir, DownloadFile)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := a.download(context.Background(), jobFor("https://fleet.invalid/images/x", data), nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("download file mode %v, want 0600", st.Mode().Perm())
	}
}
