package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"rampart/deviceproto"
)

type imageServer struct {
	data     []byte
	mu       sync.Mutex
	ranges   []string
	noRanges bool
}

func (s *imageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.mu.Unlock()
	if s.noRanges {
		w.Write(s.data)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.data))
}

// testAgent is an agent with only what download needs, whose HTTPS client
// trusts srv (the agent's redirect rule included).
func testAgent(t *testing.T, srv *httptest.Server, hooks *Hooks) *Agent {
	if hooks == nil {
		hooks = &Hooks{}
	}
	c := srv.Client()
	c.CheckRedirect = sameOriginHTTPS
	return &Agent{cfg: Config{Dir: t.TempDir(), Hooks: hooks, Rand: rand.Reader}, http: c}
}

func jobFor(url string, data []byte) deviceproto.Job {
	sum := sha256.Sum256(data)
	return deviceproto.Job{ID: "j", Version: "2.0.0", URL: url, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
}

var errCut = errors.New("cut")

// TestDownloadResumes: a download cut after some blocks continues with a
// Range request from where the file ends, and the result is checked.
func TestDownloadResumes(t *testing.T) {
	data := make([]byte, 200_000)
	rand.Read(data)
	is := &imageServer{data: data}
	srv := httptest.NewTLSServer(is)
	defer srv.Close()
	cut := true
	a := testAgent(t, srv, &Hooks{DownloadBlock: func(n int64) error {
		if cut && n >= 70_000 {
			cut = false
			return errCut
		}
		return nil
	}})
	j := jobFor(srv.URL+"/v2.bin", data)
	if _, err := a.download(context.Background(), j, nil); !errors.Is(err, errCut) {
		t.Fatalf("first attempt: %v", err)
	}
	fi, _ := os.Stat(filepath.Join(a.cfg.Dir, DownloadFile))
	if fi.Size() < 70_000 || fi.Size() >= int64(len(data)) {
		t.Fatalf("partial file %d bytes", fi.Size())
	}
	path, err := a.download(context.Background(), j, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed download differs")
	}
	if len(is.ranges) != 2 || is.ranges[0] != "" || is.ranges[1] != "bytes="+strconv.FormatInt(fi.Size(), 10)+"-" {
		t.Fatalf("requests' Range headers %q, want none then from %d", is.ranges, fi.Size())
	}
}

// TestDownloadServerIgnoresRange: a 200 answer to a Range request restarts
// the file rather than appending the whole image to the partial one.
func TestDownloadServerIgnoresRange(t *testing.T) {
	data := bytes.Repeat([]byte("rampart"), 10_000)
	srv := httptest.NewTLSServer(&imageServer{data: data, noRanges: true})
	defer srv.Close()
	a := testAgent(t, srv, nil)
	os.WriteFile(filepath.Join(a.cfg.Dir, DownloadFile), data[:1000], 0o600)
	path, err := a.download(context.Background(), jobFor(srv.URL+"/x", data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("file is not the image")
	}
}

// TestDownloadDigestMismatch: bytes that do not match the job's digest are
// deleted and the error is fatal (retrying fetches the same bytes).
func TestDownloadDigestMismatch(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 5000)
	srv := httptest.NewTLSServer(&imageServer{data: data})
	defer srv.Close()
	a := testAgent(t, srv, nil)
	j := jobFor(srv.URL+"/x", data)
	j.SHA256 = hex.EncodeToString(make([]byte, 32))
	_, err := a.download(context.Background(), j, nil)
	if !errors.Is(err, ErrDigest) || !IsFatal(err) {
		t.Fatalf("digest mismatch: %v", err)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.Dir, DownloadFile)); !os.IsNotExist(err) {
		t.Fatal("mismatching download kept")
	}
	j = jobFor(srv.URL+"/x", data)
	j.URL = srv.URL + "/missing"
	srv.Config.Handler = http.NotFoundHandler()
	if _, err := a.download(context.Background(), j, nil); !IsFatal(err) {
		t.Fatalf("404 is not fatal: %v", err)
	}
}

// TestDownloadRefusesPlainHTTPAndRedirects: a job URL that is not https is
// refused before any request (a job an older agent persisted may name
// http), and so is a redirect away from the job's https origin, to plain
// http or to another host; the image is never fetched from there.
func TestDownloadRefusesPlainHTTPAndRedirects(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 5000)
	plain := httptest.NewServer(&imageServer{data: data})
	defer plain.Close()
	other := httptest.NewTLSServer(&imageServer{data: data})
	defer other.Close()
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	a := testAgent(t, srv, nil)
	if _, err := a.download(context.Background(), jobFor(plain.URL+"/x", data), nil); !errors.Is(err, deviceproto.ErrJobURL) || !IsFatal(err) {
		t.Fatalf("plain http job: %v", err)
	}
	for _, target := range []string{plain.URL + "/x", other.URL + "/x"} {
		srv.Config.Handler = http.RedirectHandler(target, http.StatusFound)
		if _, err := a.download(context.Background(), jobFor(srv.URL+"/x", data), nil); !errors.Is(err, deviceproto.ErrJobURL) || !IsFatal(err) {
			t.Fatalf("redirect to %s: %v", target, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/moved", &imageServer{data: data})
	mux.Handle("/x", http.RedirectHandler("/moved", http.StatusFound))
	srv.Config.Handler = mux
	if _, err := a.download(context.Background(), jobFor(srv.URL+"/x", data), nil); err != nil {
		t.Fatalf("redirect on the same origin: %v", err)
	}
}
