package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the narration, written by Run and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoServe: with Serve the demo leaves its fleet running, prints the
// console's address and a token, and the console signs in with that token
// and shows the simulated devices online; ending Serve stops the fleet.
func TestDemoServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	info := make(chan ConsoleInfo, 1)
	var out syncBuffer
	done := make(chan *Summary, 1)
	go func() {
		done <- Run(Options{Dir: t.TempDir(), Out: &out, Serve: ctx, OnServe: func(c ConsoleInfo) { info <- c }})
	}()
	var c ConsoleInfo
	select {
	case c = <-info:
	case sum := <-done:
		t.Fatalf("the demo ended without serving (%d failed):\n%s", sum.Failed, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no console after 3 minutes:\n%s", out.String())
	}
	if !strings.Contains(out.String(), c.URL) || !strings.Contains(out.String(), c.Token) {
		t.Fatalf("the narration does not print the console's address and token:\n%s", out.String())
	}
	u, _ := url.Parse(c.URL)
	jar, _ := cookiejar.New(nil)
	// The demo CA is made by the run; the address is 127.0.0.1.
	cl := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, _ := http.NewRequest("POST", c.URL+"session", strings.NewReader(`{"token":"`+c.Token+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://"+u.Host)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in with the printed token: %s", resp.Status)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := cl.Get(c.URL + "data/overview")
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			Online, Total int
			Rate          float64 `json:"samples_per_minute"`
		}
		err = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		// 3 demo devices, one decommissioned, and 12 more.
		if o.Total == demoDevices+serveDevices && o.Online == demoDevices-1+serveDevices && o.Rate > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("overview: %+v, want %d devices, %d online, telemetry arriving", o, demoDevices+serveDevices, demoDevices-1+serveDevices)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	select {
	case sum := <-done:
		if !sum.OK() || sum.Console == nil {
			t.Fatalf("summary: %d failed, console %v:\n%s", sum.Failed, sum.Console, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the fleet did not stop within 30 s of the end of Serve")
	}
}
