package enroll_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/enroll"
	"rampart/fleet/internal/netlimit"
	"rampart/fleet/store"
	"rampart/fleet/store/storetest"
	"rampart/internal/proc"
	"rampart/swcomponent"
)

// BenchmarkEnroll measures the server's decision for one enrollment
// (Service.Enroll: parse, nonce, token verification with the endorsement
// lookup, lifecycle and firmware checks, certificate, group-committed
// record) on a real store, with 32 concurrent enrollments as the load test
// runs, and beside it, in the same run, the cryptography alone (token
// verify + CSR verify + certificate sign). Both report CPU µs per
// enrollment (process CPU time, all cores); "service" also reports the
// non-cryptographic rest against the "crypto" figure of the same run.
// HTTP and TLS are not included (the load test measures them).
//
//	go test ./fleet/enroll -run '^$' -bench Enroll -benchtime 2000x
//	RAMPART_TEST_POSTGRES=... go test ./fleet/enroll -run '^$' -bench Enroll/postgres -benchtime 2000x
func BenchmarkEnroll(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) {
			e := newBenchEnv(b, backend)
			var cryptoUS float64
			b.Run("crypto", func(b *testing.B) {
				reqs := e.requests(b, b.N)
				cpu0 := proc.CPU()
				b.ResetTimer()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r := reqs[next.Add(1)-1]
						if _, err := attest.Verify(r.token, attest.VerifyOptions{Key: &r.dev.iak.PublicKey, Nonce: r.binding}); err != nil {
							b.Error(err)
							return
						}
						csr, err := x509.ParseCertificateRequest(r.csrDER)
						if err != nil || csr.CheckSignature() != nil {
							b.Error("csr")
							return
						}
						if _, err := e.ca.IssueDevice(csr.PublicKey, r.dev.id, r.dev.inst, time.Hour); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				cryptoUS = (proc.CPU() - cpu0).Seconds() * 1e6 / float64(b.N)
				b.ReportMetric(cryptoUS, "cpu-us/op")
			})
			b.Run("service", func(b *testing.B) {
				reqs := e.requests(b, b.N)
				b.SetParallelism(16) // 32 goroutines on 2 cores, as the load test's 32 workers
				// A context that can be done, as an HTTP request's.
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				cpu0 := proc.CPU()
				b.ResetTimer()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						r := reqs[next.Add(1)-1]
						if _, _, ref := e.svc.Enroll(ctx, r.raw, false, "bench"); ref != nil {
							b.Error(ref)
							return
						}
					}
				})
				b.StopTimer()
				us := (proc.CPU() - cpu0).Seconds() * 1e6 / float64(b.N)
				b.ReportMetric(us, "cpu-us/op")
				if cryptoUS > 0 {
					b.ReportMetric(us-cryptoUS, "noncrypto-us/op")
					b.ReportMetric(us/cryptoUS, "x-crypto")
				}
			})
		})
	}
}

type benchDevice struct {
	iak, key *ecdsa.PrivateKey
	id       string
	inst     []byte
	csrDER   []byte
}

type benchEnv struct {
	svc     *enroll.Service
	db      *store.DB
	handler http.Handler
	ca      *ca.CA
	devs    []*benchDevice
	release *store.Release
}

type benchReq struct {
	dev     *benchDevice
	csrDER  []byte
	token   []byte
	binding []byte
	raw     deviceproto.RawRequest
}

func newBenchEnv(b testing.TB, backend string) *benchEnv {
	b.Helper()
	db := storetest.Open(b, backend, nil)
	dir := b.TempDir()
	c, err := ca.Open(filepath.Join(dir, "ca"), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		b.Fatal(err)
	}
	// The benchmark asks for every nonce from one address: no rate limit.
	svc, err := enroll.NewService(enroll.Config{Store: db, CA: c, Rand: rand.Reader, CertTTL: time.Hour, NonceRate: netlimit.Rate{PerSecond: 1e9, Burst: 1 << 30}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rel := &store.Release{Component: swcomponent.Component{MeasurementValue: bytes.Repeat([]byte{0xA5}, 32), MeasurementType: "SPE", Version: "1.2.3", SignerID: bytes.Repeat([]byte{0x5A}, 32), MeasurementDescription: "SHA256"}, Size: 4096}
	if err := db.PutRelease(ctx, rel, nil); err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{svc: svc, db: db, handler: svc.Handler(), ca: c, release: rel}
	for range 64 {
		d := &benchDevice{}
		d.iak, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		d.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		d.inst, _ = attest.InstanceID(&d.iak.PublicKey)
		d.id = hex.EncodeToString(d.inst[1:17])
		pemKey, _ := attest.MarshalPublicKeyPEM(&d.iak.PublicKey)
		if _, err := db.PutEndorsement(ctx, &store.Device{ID: d.id, InstanceID: d.inst, PublicKeyPEM: string(pemKey)}); err != nil {
			b.Fatal(err)
		}
		if d.csrDER, err = deviceproto.NewCSR(d.key, rand.Reader, ""); err != nil {
			b.Fatal(err)
		}
		e.devs = append(e.devs, d)
	}
	return e
}

// requests prepares n enrollment requests (fresh server nonces, signed
// tokens) before the timer runs: that is the devices' work.
func (e *benchEnv) requests(b testing.TB, n int) []*benchReq {
	return e.requestsFor(b, n, e.release)
}

// requestsFor is requests with tokens measuring rel.
func (e *benchEnv) requestsFor(b testing.TB, n int, rel *store.Release) []*benchReq {
	b.Helper()
	out := make([]*benchReq, n)
	for i := range out {
		d := e.devs[i%len(e.devs)]
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, httptest.NewRequest("POST", deviceproto.PathNonce, nil))
		var nr deviceproto.NonceReply
		if err := json.Unmarshal(w.Body.Bytes(), &nr); err != nil {
			b.Fatal(err)
		}
		bind, _ := deviceproto.Binding(nr.Nonce, d.key.Public())
		c := &attest.Claims{Nonce: bind, ImplementationID: bytes.Repeat([]byte{0x11}, 32), ClientID: -1, Lifecycle: attest.LifecycleSecured,
			SoftwareComponents: []swcomponent.Component{{MeasurementType: rel.Component.MeasurementType, MeasurementValue: rel.Component.MeasurementValue, Version: rel.Component.Version, SignerID: rel.Component.SignerID, MeasurementDescription: "SHA256"}}}
		tok, err := attest.Sign(c, d.iak, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = &benchReq{dev: d, csrDER: d.csrDER, token: tok, binding: bind, raw: deviceproto.EncodeRequest(d.csrDER, nr.Nonce, tok)}
	}
	return out
}

// BenchmarkDeviceRead measures the enrollment path's device read on SQLite
// with 2,000 devices when every read follows a commit (as under load, where
// the group commit lands between any two reads): each op commits an audit
// row, then reads one device by instance ID. Compare runs of two builds
// (the write is the same in both).
//
//	go test ./fleet/enroll -run '^$' -bench DeviceRead -benchtime 5000x
func BenchmarkDeviceRead(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "fleet.db"), store.Options{SQLiteSynchronous: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 2000
	insts := make([][]byte, n)
	for i := range insts {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		insts[i], _ = attest.InstanceID(&k.PublicKey)
		pemKey, _ := attest.MarshalPublicKeyPEM(&k.PublicKey)
		if _, err := db.PutEndorsement(ctx, &store.Device{ID: hex.EncodeToString(insts[i][1:17]), InstanceID: insts[i], PublicKeyPEM: string(pemKey)}); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := proc.CPU()
	b.ResetTimer()
	for i := range b.N {
		if err := db.Audit(ctx, &store.AuditEntry{Actor: "bench", Action: "enroll", Subject: "x", Decision: store.Allow, Reason: "bench"}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.DeviceByInstance(ctx, insts[(i*7919)%n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((proc.CPU()-cpu0).Seconds()*1e6/float64(b.N), "cpu-us/op")
}

// BenchmarkDecisionLog measures the one log line per decision as the fleet
// server writes it (JSON handler, a logger with the component attribute,
// the same attributes as "device enrolled"), to io.Discard: the line's
// formatting cost, without the write to the log's destination.
//
//	go test ./fleet/enroll -run '^$' -bench DecisionLog
func BenchmarkDecisionLog(b *testing.B) {
	l := slog.New(slog.NewJSONHandler(io.Discard, nil)).With("component", "enroll")
	b.ReportAllocs()
	for b.Loop() {
		l.Info("device enrolled", "action", "enroll", "device", "0123456789abcdef0123456789abcdef", "serial", "5f3c2a9b8e7d6c5b4a3928170615f4e3")
	}
}
