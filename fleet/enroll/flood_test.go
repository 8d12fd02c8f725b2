package enroll_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rampart/attest"
	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/enroll"
	"rampart/fleet/internal/burst"
	"rampart/fleet/store"
	"rampart/swcomponent"
)

// floodEnv is a Service with the server's defaults (nonce rate, coalesced
// refusal audit) and a clock the test moves.
type floodEnv struct {
	*benchEnv
	clock   atomic.Int64 // Unix nanoseconds
	refused *burst.Coalescer[*store.AuditEntry]
}

func newFloodEnv(t *testing.T, maxSources int) *floodEnv {
	b := newBenchEnv(t, "sqlite") // devices, release, store
	f := &floodEnv{benchEnv: b}
	f.clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, f.clock.Load()) }
	f.refused = burst.Audit(b.db, time.Minute, 1000, now, nil)
	c, err := ca.Open(filepath.Join(t.TempDir(), "ca"), []byte("pw"), ca.Options{Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := enroll.NewService(enroll.Config{Store: b.db, CA: c, Rand: rand.Reader, Now: now, CertTTL: time.Hour,
		MaxSources: maxSources, Refusals: f.refused})
	if err != nil {
		t.Fatal(err)
	}
	b.svc, b.handler, b.ca = svc, svc.Handler(), c
	return f
}

func (f *floodEnv) do(from, method, path string, body []byte, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.RemoteAddr = from
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, r)
	return w
}

// enrollFrom runs one device's whole enrollment over the handler from one
// address, as the HTTP client would.
func (f *floodEnv) enrollFrom(t *testing.T, from string, d *benchDevice) int {
	t.Helper()
	w := f.do(from, "POST", deviceproto.PathNonce, nil, nil)
	if w.Code != 200 {
		return w.Code
	}
	var nr deviceproto.NonceReply
	if err := json.Unmarshal(w.Body.Bytes(), &nr); err != nil {
		t.Fatal(err)
	}
	bind, _ := deviceproto.Binding(nr.Nonce, d.key.Public())
	rel := f.release
	c := &attest.Claims{Nonce: bind, ImplementationID: bytes.Repeat([]byte{0x11}, 32), ClientID: -1, Lifecycle: attest.LifecycleSecured,
		SoftwareComponents: []swcomponent.Component{{MeasurementType: rel.Component.MeasurementType, MeasurementValue: rel.Component.MeasurementValue, Version: rel.Component.Version, SignerID: rel.Component.SignerID, MeasurementDescription: "SHA256"}}}
	tok, err := attest.Sign(c, d.iak, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	raw := deviceproto.EncodeRequest(d.csrDER, nr.Nonce, tok)
	w = f.do(from, "POST", deviceproto.PathSimpleEnroll, raw.Body, map[string]string{"Content-Type": raw.ContentType,
		"Content-Transfer-Encoding": raw.TransferEncoding, deviceproto.HeaderNonce: raw.Nonce, deviceproto.HeaderToken: raw.Token})
	return w.Code
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// Issue 15, item 6: one source asking for nonces as fast as it can (the
// probe reached 13,673/s and filled the fixed 1,000,000-nonce cache in 73 s,
// after which every device got 503) can neither make another source's
// enrollment fail nor grow the server's memory: nonces are stateless until
// used, their requests are rate-limited per source in a bounded table, and
// the flood's refusals write O(1) audit rows.
func TestNonceFloodOneSource(t *testing.T) {
	const maxSources = 1000
	f := newFloodEnv(t, maxSources)
	heap0 := heapInUse()
	const flood = 100_000
	ok, limited := 0, 0
	for range flood {
		switch w := f.do("192.0.2.66:40000", "POST", deviceproto.PathNonce, nil, nil); w.Code {
		case 200:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if w.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("flood request answered %d", w.Code)
		}
	}
	if ok != enroll.DefaultNonceRate.Burst || limited != flood-ok {
		t.Fatalf("one source, clock still: %d nonces issued, %d refused; want the burst of %d", ok, limited, enroll.DefaultNonceRate.Burst)
	}
	// Another source enrolls, at once and after the flooder's refill.
	if code := f.enrollFrom(t, "198.51.100.7:5555", f.devs[0]); code != 200 {
		t.Fatalf("another source's enrollment during the flood: %d", code)
	}
	// A flood from many sources (IPv6 /64s) keeps the table bounded.
	for i := range 20 * maxSources {
		f.do(fmt.Sprintf("[2001:db8:%x:%x::1]:443", i>>16, i&0xffff), "POST", deviceproto.PathNonce, nil, nil)
	}
	if n := f.svc.NonceSources(); n > maxSources {
		t.Fatalf("rate table holds %d sources, bound %d", n, maxSources)
	}
	if n := f.svc.UsedNonces(); n != 1 {
		t.Fatalf("%d used nonces remembered after the flood, want the one enrollment's", n)
	}
	f.clock.Add(int64(time.Minute))
	if code := f.enrollFrom(t, "198.51.100.7:5556", f.devs[1]); code != 200 {
		t.Fatalf("another source's enrollment after the flood: %d", code)
	}
	if code := f.enrollFrom(t, "192.0.2.66:40001", f.devs[2]); code != 200 {
		t.Fatalf("the flooding source, refilled: %d", code)
	}
	heap1 := heapInUse()
	t.Logf("heap in use: %.1f MB before, %.1f MB after %d nonce requests from one source and %d from others", float64(heap0)/1e6, float64(heap1)/1e6, flood, 20*maxSources)
	// The flood's refusals: one row at once, one summary per window.
	f.refused.Tick(context.Background())
	l, err := f.db.AuditLog(context.Background(), store.AuditFilter{Action: "enroll.nonce", Subject: "192.0.2.66"})
	if err != nil || len(l) != 2 || !strings.HasPrefix(l[0].Reason, fmt.Sprintf("burst: %d more", limited-1)) {
		t.Fatalf("flood audit rows: %d (%v); newest %+v", len(l), err, l)
	}
}

// A nonce is used up only by a request whose token verifies against an
// endorsed key: a bad token leaves it for the device's real request, a
// verified one consumes it.
func TestNonceUsedOnlyByVerifiedToken(t *testing.T) {
	f := newFloodEnv(t, 100)
	ctx := context.Background()
	r := f.requests(t, 1)[0]
	bad := append([]byte(nil), r.token...)
	bad[len(bad)-1] ^= 1
	badRaw := deviceproto.EncodeRequest(r.csrDER, mustDecode(t, r.raw.Nonce), bad)
	if _, _, ref := f.svc.Enroll(ctx, badRaw, false, "test"); ref == nil || ref.Code != deviceproto.CodeBadSignature {
		t.Fatalf("bad token: %v", ref)
	}
	if _, _, ref := f.svc.Enroll(ctx, r.raw, false, "test"); ref != nil {
		t.Fatalf("the real request after a forged one with its nonce: %v", ref)
	}
	if _, _, ref := f.svc.Enroll(ctx, r.raw, false, "test"); ref == nil || ref.Code != deviceproto.CodeNonceReplayed {
		t.Fatalf("replay: %v", ref)
	}
}

func mustDecode(t *testing.T, b64 string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
