package campaign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/sim"
)

var (
	perfDevices = flag.Int("perf-devices", 0, "run the delivery benchmark with this many devices (e.g. 10000)")
	perfSize    = flag.Int("perf-size", 1<<20, "image size of the delivery benchmark")
	perfConns   = flag.Int("perf-conns", 64, "concurrent downloads of the delivery benchmark")
)

// TestDeliveryPerformance measures a campaign's delivery of one image to
// -perf-devices devices through the real fleet server on loopback: the
// engine publishes every job over MQTT (the broker's inline client), and
// -perf-conns clients play the devices' download (HTTPS GET of the job's
// content-addressed URL, as the agent does), until the engine has seen
// every device's download complete. The baseline, in the same run, is
// loopback TLS throughput: the same clients fetching the same number of
// bytes from a bare TLS server writing a buffer.
//
// The simulated devices' flash has a 12 KiB update slot, so a 1 MiB image
// cannot go through the full agent; TestCampaignThousand covers the full
// path (install, reboot, attestation) with a small image.
func TestDeliveryPerformance(t *testing.T) {
	n := *perfDevices
	if n == 0 {
		t.Skip("delivery benchmark: run with -perf-devices N (and -perf-size, -perf-conns)")
	}
	ctx := context.Background()
	f, err := sim.StartFleet(sim.FleetOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := f.SignFirmware("2.0.0", *perfSize)
	if err != nil {
		t.Fatal(err)
	}
	rel, _, err := campaign.Upload(ctx, f.Server.Store(), img, []any{&f.Release.PublicKey}, false, "", "perf")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("perf-%05d", i)
		if _, err := f.Server.Store().PutEndorsement(ctx, &store.Device{ID: id, InstanceID: []byte(id), PublicKeyPEM: "none"}); err != nil {
			t.Fatal(err)
		}
	}
	size := int64(len(img))
	total := size * int64(n)

	// Baseline: bare loopback TLS, same client count and bytes.
	base := baselineTLS(t, n, size, *perfConns)

	// The engine publishes every job (retained, over the broker's inline
	// client); the clients take the device list from the status API and
	// fetch the job's URL.
	e := f.Server.Campaigns()
	start := time.Now()
	if _, err := e.Create(ctx, campaign.Spec{ID: "perf", Release: hex.EncodeToString(rel.Component.MeasurementValue),
		Filter: campaign.Filter{States: []store.State{store.Registered}}, MaxConcurrent: n,
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}}, "perf"); err != nil {
		t.Fatal(err)
	}
	var notified []string
	waitFor(t, 5*time.Minute, "every job published", func() bool {
		s, _ := e.Status("perf", true)
		notified = notified[:0]
		for _, d := range s.Devices {
			if d.Status != campaign.Queued {
				notified = append(notified, d.ID)
			}
		}
		return len(notified) == n
	})
	published := time.Since(start)
	urls := make([]string, n)
	for i, id := range notified {
		b, err := e.Job("perf", id)
		if err != nil {
			t.Fatal(err)
		}
		j, err := deviceproto.DecodeJob(b) // the devices here are HTTPS clients: only the URL matters
		if err != nil {
			t.Fatal(err)
		}
		urls[i] = j.Job.URL
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.Roots()}, MaxIdleConnsPerHost: *perfConns}}
	dl := time.Now()
	var got atomic.Int64
	fetchAll(t, n, *perfConns, func(i int) {
		r, err := client.Get(urls[i])
		if err != nil {
			t.Error(err)
			return
		}
		k, _ := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		got.Add(k)
	})
	waitFor(t, time.Minute, "every download seen", func() bool {
		s, _ := e.Status("perf", false)
		return s.Counts[campaign.Downloaded] == n
	})
	elapsed := time.Since(start)
	dlTime := time.Since(dl)
	if got.Load() != total {
		t.Fatalf("downloaded %d bytes, want %d", got.Load(), total)
	}
	mbps := func(b int64, d time.Duration) float64 { return float64(b) / d.Seconds() / (1 << 20) }
	t.Logf("devices %d, image %d bytes, %d concurrent downloads", n, size, *perfConns)
	t.Logf("campaign: jobs published in %s, downloads in %s, total %s (goal <= 30 s)", published.Round(time.Millisecond), dlTime.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	t.Logf("server image throughput %.0f MiB/s; loopback TLS baseline %.0f MiB/s (%s); ratio %.2f",
		mbps(total, dlTime), mbps(total, base), base.Round(time.Millisecond), mbps(total, dlTime)/mbps(total, base))
}

// baselineTLS serves size bytes per request from a bare TLS listener and
// fetches it n times with conns clients; it returns the time taken.
func baselineTLS(t *testing.T, n int, size int64, conns int) time.Duration {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "baseline"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(buf) })}
	go srv.Serve(lis)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: conns}}
	url := "https://" + lis.Addr().String() + "/"
	start := time.Now()
	var got atomic.Int64
	fetchAll(t, n, conns, func(int) {
		r, err := client.Get(url)
		if err != nil {
			t.Error(err)
			return
		}
		k, _ := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		got.Add(k)
	})
	if got.Load() != size*int64(n) {
		t.Fatalf("baseline fetched %d bytes", got.Load())
	}
	return time.Since(start)
}

func fetchAll(t *testing.T, n, conns int, get func(i int)) {
	var wg sync.WaitGroup
	ch := make(chan int)
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ch {
				get(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	wg.Wait()
}
