package fleet

// The load test's enrollment side: the crypto-bound limit of the server,
// the devices' own cryptography, and enrollments end to end.

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/internal/proc"
)

// precomputeCSRs makes every device's CSR ahead of the measurement. A CSR
// does not bind the server nonce (the attestation token does, and is made
// per enrollment), so a device may hold one from manufacturing; making it
// here keeps its signature off the shared cores while the server is
// measured.
func precomputeCSRs(t *testing.T, devs []*device) [][]byte {
	csrs := make([][]byte, len(devs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(devs); i = int(next.Add(1)) - 1 {
				der, err := deviceproto.NewCSR(devs[i].key, rand.Reader, "")
				if err != nil {
					t.Error(err)
					return
				}
				csrs[i] = der
			}
		}()
	}
	wg.Wait()
	return csrs
}

// enrollAll enrolls every device with workers concurrent devices over
// HTTPS keep-alive connections: per enrollment, a nonce request, the
// device's token over Binding(nonce, key) and the submission. It returns
// the enrollments per second and how many failed.
func enrollAll(f *fixture, devs []*device, csrs [][]byte, workers int) (float64, int64, error) {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.pool}, MaxIdleConnsPerHost: workers}}
	defer hc.CloseIdleConnections()
	var next, failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &deviceproto.Client{URL: f.enrollURL, HTTP: hc}
			ctx := context.Background()
			for i := int(next.Add(1)) - 1; i < len(devs); i = int(next.Add(1)) - 1 {
				d := devs[i]
				cert, err := enrollOne(ctx, cl, d, csrs[i])
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				d.cert = cert
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	err, _ := firstErr.Load().(error)
	return float64(int64(len(devs))-failed.Load()) / el.Seconds(), failed.Load(), err
}

func enrollOne(ctx context.Context, cl *deviceproto.Client, d *device, csr []byte) (*x509.Certificate, error) {
	nonce, err := cl.Nonce(ctx)
	if err != nil {
		return nil, err
	}
	b, err := deviceproto.Binding(nonce, d.key.Public())
	if err != nil {
		return nil, err
	}
	tok, err := d.attest(ctx, b)
	if err != nil {
		return nil, err
	}
	cert, err := cl.Submit(ctx, false, csr, nonce, tok)
	if err != nil {
		return nil, err
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(d.key.Public()) {
		return nil, errors.New("issued certificate is for another key")
	}
	return cert, nil
}

// cryptoBound is the server's cryptography per enrollment (verify the
// token, verify the CSR, sign the certificate) on all cores, with one CA in
// memory using the server's algorithms: per second, and CPU per enrollment.
func cryptoBound(t *testing.T, d *device) (float64, time.Duration) {
	c, err := ca.Open(t.TempDir(), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 32)
	csrDER, _ := deviceproto.NewCSR(d.key, rand.Reader, "")
	b, _ := deviceproto.Binding(nonce, d.key.Public())
	tok, _ := d.attest(context.Background(), b)
	return perSecond(t, 2*time.Second, func() error {
		if _, err := attest.Verify(tok, attest.VerifyOptions{Key: &d.iak.PublicKey, Nonce: b}); err != nil {
			return err
		}
		csr, err := x509.ParseCertificateRequest(csrDER)
		if err != nil {
			return err
		}
		if err := csr.CheckSignature(); err != nil {
			return err
		}
		_, err = c.IssueDevice(csr.PublicKey, d.id, d.inst, time.Hour)
		return err
	})
}

// deviceTokenBound is the device's own cryptography per enrollment in the
// measured window (the attestation token's signature): per second, and
// CPU per token.
func deviceTokenBound(t *testing.T, d *device) (float64, time.Duration) {
	return perSecond(t, time.Second, func() error {
		_, err := d.attest(context.Background(), make([]byte, 32))
		return err
	})
}

// perSecond runs op on every core for d and returns the operations per
// second of wall time and the CPU time of this process per operation
// (which, unlike the rate, does not depend on what else the shared cores
// run). It fails the test on an error.
func perSecond(t *testing.T, d time.Duration, op func() error) (float64, time.Duration) {
	var ops atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	cpu0 := proc.CPU()
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if err := op(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), proc.CPU()-cpu0
	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	n := max(ops.Load(), 1)
	return float64(n) / el.Seconds(), cpu / time.Duration(n)
}
