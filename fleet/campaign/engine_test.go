package campaign_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rampart/deviceproto"
	"rampart/fleet/ca"
	"rampart/fleet/campaign"
	"rampart/fleet/store"
	"rampart/image"
)

// bench is a store with n registered devices and an uploaded release,
// and an engine whose clock and publisher the test holds.
type bench struct {
	db      *store.DB
	path    string
	release string
	key     *ecdsa.PrivateKey
	now     time.Time
	mu      sync.Mutex
	jobs    map[string][]byte
	dups    int
	repeats int
	bps     int64
	srv     *httptest.Server
	secret  []byte // the engine's KeySecret when set
	// lose, when set, makes a publish to that device vanish (it reports
	// success, as a lost message would, and records nothing).
	lose func(id string) bool
}

func newBench(t testing.TB, n int) *bench {
	t.Helper()
	b := &bench{path: filepath.Join(t.TempDir(), "fleet.db"), now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), jobs: map[string][]byte{}}
	var err error
	if b.db, err = store.Open(context.Background(), b.path, store.Options{Now: b.clock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.db.Close() })
	if b.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	img := b.sign(t, "2.0.0")
	rel, _, err := campaign.Upload(context.Background(), b.db, img, []any{&b.key.PublicKey}, false, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	b.release = hex.EncodeToString(rel.Component.MeasurementValue)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("dev-%03d", i)
		if _, err := b.db.PutEndorsement(context.Background(), &store.Device{ID: id, InstanceID: []byte(id), PublicKeyPEM: "none"}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func (b *bench) clock() time.Time { b.mu.Lock(); defer b.mu.Unlock(); return b.now }

func (b *bench) advance(d time.Duration) { b.mu.Lock(); b.now = b.now.Add(d); b.mu.Unlock() }

func (b *bench) sign(t testing.TB, version string) []byte { return b.signSize(t, version, 3000) }

func (b *bench) signSize(t testing.TB, version string, size int) []byte {
	t.Helper()
	v, _ := image.ParseVersion(version)
	sc := v.SecurityCounter()
	res, err := image.Sign(make([]byte, size), &image.SignOptions{Key: b.key, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &sc, BootRecord: "SPE", Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

func (b *bench) engine(t testing.TB) *campaign.Engine { return b.clusterEngine(t, nil) }

// clusterEngine is an engine of the bench that evaluates when leader says
// so (nil: always, a single node).
func (b *bench) clusterEngine(t testing.TB, leader func() (int64, bool)) *campaign.Engine {
	t.Helper()
	var e *campaign.Engine
	if b.srv == nil {
		b.srv = httptest.NewTLSServer(nil)
		t.Cleanup(b.srv.Close)
	}
	e, err := campaign.New(context.Background(), campaign.Config{Store: b.db, Now: b.clock, BytesPerSecond: b.bps, KeySecret: b.keySecret(),
		ImageBase: func() string { return b.srv.URL }, Jobs: b.jobSigner(t), Leader: leader,
		Publish: func(id string, p []byte, _ time.Time) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.lose != nil && b.lose(id) {
				return nil
			}
			if old, dup := b.jobs[id]; dup && len(p) > 0 {
				if sameJob(old, p) {
					b.repeats++ // the same job again (after a restart), signed again
					return nil
				}
				b.dups++
				return fmt.Errorf("a second job published to %s", id)
			}
			b.jobs[id] = p
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Config.Handler = e.ImageHandler()
	return e
}

// keySecret is the engine's KeySecret: fixed for the bench, as the
// server's is for its CA (b.secret overrides it).
func (b *bench) keySecret() []byte {
	if b.secret != nil {
		return b.secret
	}
	return []byte("bench key secret, 32 bytes long.")
}

func (b *bench) published() int { b.mu.Lock(); defer b.mu.Unlock(); return len(b.jobs) }

// job is the job published to device id, verified as that device's agent
// verifies it.
func (b *bench) job(t *testing.T, id string) deviceproto.Job {
	t.Helper()
	b.mu.Lock()
	msg := b.jobs[id]
	b.mu.Unlock()
	j, err := deviceproto.VerifyJob(msg, deviceproto.JobPolicy{Roots: testCA(t).Pool(), Device: deviceCert(t, id), EnrollURL: b.srv.URL, Now: b.clock()})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// jobSigner is a job signer certified by the test CA, on the bench clock.
func (b *bench) jobSigner(t testing.TB) *deviceproto.JobSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := testCA(t).IssueJobSigner(&k.PublicKey, nil, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &deviceproto.JobSigner{Key: k, Cert: cert, Now: b.clock}
}

var (
	caOnce sync.Once
	theCA  *ca.CA
	caErr  error
)

// testCA is one fleet CA for the whole test binary (opening one costs a
// tenth of a second of scrypt), dated at the benches' epoch.
func testCA(t testing.TB) *ca.CA {
	t.Helper()
	caOnce.Do(func() {
		dir, err := os.MkdirTemp("", "campaign-test-ca-")
		if err != nil {
			caErr = err
			return
		}
		defer os.RemoveAll(dir)
		epoch := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
		theCA, caErr = ca.Open(dir, []byte("campaign test CA passphrase"), ca.Options{Rand: rand.Reader, Now: func() time.Time { return epoch }})
	})
	if caErr != nil {
		t.Fatal(caErr)
	}
	return theCA
}

// deviceCert is a certificate of the test CA for device id (a fresh key:
// only the common name and the issuer matter to job verification).
func deviceCert(t testing.TB, id string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := testCA(t).IssueDevice(&k.PublicKey, id, []byte(id), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sameJob reports whether two job messages carry the same job but for
// the signing time (a job published again after a restart).
func sameJob(a, b []byte) bool {
	x, err1 := deviceproto.DecodeJob(a)
	y, err2 := deviceproto.DecodeJob(b)
	if err1 != nil || err2 != nil {
		return false
	}
	j, k := x.Job, y.Job
	j.Issued, j.Expires, k.Issued, k.Expires = 0, 0, 0, 0
	return j.Equal(k)
}

// httpsClient trusts the certificate every httptest TLS server presents.
var httpsClient = func() *http.Client {
	s := httptest.NewTLSServer(nil)
	defer s.Close()
	return s.Client()
}()

// statuses maps device -> status.
func statuses(t *testing.T, e *campaign.Engine, id string) map[string]campaign.DeviceProgress {
	s, err := e.Status(id, true)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]campaign.DeviceProgress{}
	for _, d := range s.Devices {
		d.Notified = d.Notified.UTC()
		m[d.ID] = d
	}
	return m
}

func report(t *testing.T, e *campaign.Engine, dev string, o deviceproto.Outcome) {
	b, _ := json.Marshal(o)
	e.Report(context.Background(), dev, b)
}

// TestRestartLosesNoProgress: progress made by one engine (jobs out,
// downloads seen, a revert and a refused report) is what a new engine on
// the same store finds, and it publishes no job twice.
func TestRestartLosesNoProgress(t *testing.T) {
	b := newBench(t, 10)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "c1", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 4}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if b.published() != 4 {
		t.Fatalf("%d jobs published, want MaxConcurrent 4", b.published())
	}
	var ids []string
	for id := range b.jobs {
		ids = append(ids, id)
	}
	// A full download, a partial one (Range), a revert, an unverifiable success.
	j := b.job(t, ids[0])
	if r, err := httpsClient.Get(j.URL); err != nil || r.StatusCode != 200 {
		t.Fatalf("download: %v %v", r, err)
	}
	req, _ := http.NewRequest("GET", b.job(t, ids[1]).URL, nil)
	req.Header.Set("Range", "bytes=0-99")
	if r, err := httpsClient.Do(req); err != nil || r.StatusCode != http.StatusPartialContent {
		t.Fatalf("range download: %v %v", r, err)
	}
	report(t, e, ids[2], deviceproto.Outcome{JobID: "c1", OK: false, Result: deviceproto.ResultReverted, Version: "1.0.0", Error: "agent: self-test of 2.0.0 failed: x"})
	report(t, e, ids[3], deviceproto.Outcome{JobID: "c1", OK: true, Version: "2.0.0"}) // no token: not verified
	b.advance(time.Second)
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	before := statuses(t, e, "c1")
	want := map[string]campaign.Status{ids[0]: campaign.Downloaded, ids[1]: campaign.Downloading, ids[2]: campaign.Reverted, ids[3]: campaign.Failed}
	for id, st := range want {
		if before[id].Status != st {
			t.Fatalf("%s: %s (%s), want %s", id, before[id].Status, before[id].Reason, st)
		}
	}
	published := b.published()
	// Restart: close, reopen the store, build a new engine.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	b.db.Close()
	var err error
	if b.db, err = store.Open(ctx, b.path, store.Options{Now: b.clock}); err != nil {
		t.Fatal(err)
	}
	e2 := b.engine(t)
	after := statuses(t, e2, "c1")
	for id, d := range before {
		if after[id] != d {
			t.Fatalf("after restart %s is %+v, was %+v", id, after[id], d)
		}
	}
	if err := e2.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.published() - published; got != 0 || b.dups != 0 || b.repeats != 4 {
		t.Fatalf("%d new jobs, %d conflicting and %d repeated after restart, want the 4 in flight repeated (the broker's retained jobs are lost)", got, b.dups, b.repeats)
	}
	report(t, e2, ids[1], deviceproto.Outcome{JobID: "c1", OK: false, Version: "1.0.0", Error: "agent: download: 404"})
	if err := e2.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.published() - published; got != 1 || b.dups != 0 {
		t.Fatalf("%d new jobs (%d duplicates) after one in-flight device ended, want 1", got, b.dups)
	}
	// Watch window: the in-flight devices that never verify fail.
	b.advance(16 * time.Minute)
	if err := e2.Step(ctx); err != nil {
		t.Fatal(err)
	}
	for id, d := range statuses(t, e2, "c1") {
		if d.Status == campaign.Downloaded || d.Status == campaign.Downloading {
			t.Fatalf("%s still %s after the watch window", id, d.Status)
		}
	}
	if after := statuses(t, e2, "c1"); after[ids[0]].Status != campaign.Failed {
		t.Fatalf("%s: %+v, want failed by the watch window", ids[0], after[ids[0]])
	}
	e2.Close()
}

// TestThresholdsApproveCancel: the failure threshold pauses the campaign
// (when the failure is recorded; the step that follows records the pause);
// resume acknowledges the failures; a phase that asks for approval waits
// for it; cancel stops the queued.
func TestThresholdsApproveCancel(t *testing.T) {
	b := newBench(t, 20)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "c2", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 10, FailureThreshold: 0.5, Approve: false}, {Percent: 100, Approve: true}}, MaxConcurrent: 20}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	e.Step(ctx)
	if b.published() != 2 {
		t.Fatalf("phase 1 (10%% of 20) published %d jobs, want 2", b.published())
	}
	var first string
	for id := range b.jobs {
		first = id
	}
	report(t, e, first, deviceproto.Outcome{JobID: "c2", OK: false, Version: "1.0.0", Error: "agent: the SPE refused 2.0.0"})
	e.Step(ctx)
	s, _ := e.Status("c2", false)
	if s.State != campaign.Paused {
		t.Fatalf("state %s (%v), want paused (1 of 2 failed >= 50%%)", s.State, s.Counts)
	}
	if _, err := e.Control(ctx, "c2", campaign.Approve, "test", ""); !errors.Is(err, campaign.ErrState) {
		t.Fatalf("approve while paused: %v", err)
	}
	if _, err := e.Control(ctx, "c2", campaign.Resume, "test", "ok"); err != nil {
		t.Fatal(err)
	}
	var second string
	for id := range b.jobs {
		if id != first {
			second = id
		}
	}
	report(t, e, second, deviceproto.Outcome{JobID: "c2", OK: false, Version: "1.0.0", Error: "agent: download: 404"})
	e.Step(ctx)
	if s, _ = e.Status("c2", false); s.State != campaign.Paused {
		t.Fatalf("state %s, want paused again: a new failure after resume crosses 50%% again", s.State)
	}
	if _, err := e.Control(ctx, "c2", campaign.Resume, "test", "ok"); err != nil {
		t.Fatal(err)
	}
	e.Step(ctx)
	if s, _ = e.Status("c2", false); s.State != campaign.Awaiting {
		t.Fatalf("state %s (%s), want awaiting approval for phase 2", s.State, s.Reason)
	}
	if b.published() != 2 {
		t.Fatalf("jobs published before approval: %d", b.published())
	}
	if _, err := e.Control(ctx, "c2", campaign.Approve, "test", ""); err != nil {
		t.Fatal(err)
	}
	e.Step(ctx)
	if b.published() != 20 {
		t.Fatalf("after approval %d jobs, want 20", b.published())
	}
	if _, err := e.Control(ctx, "c2", campaign.Cancel, "test", "stop"); err != nil {
		t.Fatal(err)
	}
	s, _ = e.Status("c2", false)
	if s.State != campaign.Stopped || s.Counts[campaign.Cancelled] != 18 {
		t.Fatalf("cancel: %s %v", s.State, s.Counts)
	}
}

// TestUploadRefusesLowerSecurityCounter: a release with a lower security
// counter is refused unless forced; an unsigned one always.
func TestUploadRefusesLowerSecurityCounter(t *testing.T) {
	b := newBench(t, 0)
	ctx := context.Background()
	old := b.sign(t, "1.5.0")
	if _, _, err := campaign.Upload(ctx, b.db, old, []any{&b.key.PublicKey}, false, "", "test"); !errors.Is(err, campaign.ErrRollback) {
		t.Fatalf("lower counter: %v, want ErrRollback", err)
	}
	if _, _, err := campaign.Upload(ctx, b.db, old, []any{&b.key.PublicKey}, true, "", "test"); err != nil {
		t.Fatalf("forced: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, _, err := campaign.Upload(ctx, b.db, b.sign(t, "3.0.0"), []any{&other.PublicKey}, false, "", "test"); err == nil {
		t.Fatal("an image signed by an unknown key was accepted")
	}
}

// TestMaintenanceWindow: jobs go out only inside the daily window, which
// may span midnight.
func TestMaintenanceWindow(t *testing.T) {
	b := newBench(t, 3) // the clock starts at 12:00 UTC
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "night", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Window: &campaign.Window{Start: "22:00", End: "04:00"}}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	e.Step(ctx)
	if b.published() != 0 {
		t.Fatalf("%d jobs published at 12:00 outside 22:00-04:00", b.published())
	}
	b.advance(11 * time.Hour) // 23:00
	e.Step(ctx)
	if b.published() != 3 {
		t.Fatalf("%d jobs published at 23:00, want 3", b.published())
	}
	w := campaign.Window{Start: "22:00", End: "04:00"}
	for h, want := range map[int]bool{21: false, 22: true, 0: true, 3: true, 4: false, 12: false} {
		if got := w.Open(time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC)); got != want {
			t.Errorf("%02d:00 open %v, want %v", h, got, want)
		}
	}
}

// TestHealthSignals: after notification, an accepted re-enrollment moves a
// device to rebooted, a refused one fails it (attestation refused), and
// more renewals than max_renewals within the watch window fail it as a
// reboot loop.
func TestHealthSignals(t *testing.T) {
	b := newBench(t, 3)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "h", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxRenewals: 2}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	e.Step(ctx)
	renew := func(dev, decision string) {
		if err := b.db.Audit(ctx, &store.AuditEntry{Actor: "device:" + dev, Action: "renew", Subject: dev, Decision: decision, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	b.advance(time.Second)
	renew("dev-000", store.Allow)
	renew("dev-001", store.Deny)
	for i := 0; i < 3; i++ {
		renew("dev-002", store.Allow)
	}
	e.Step(ctx)
	st := statuses(t, e, "h")
	if st["dev-000"].Status != campaign.Rebooted {
		t.Errorf("dev-000: %+v, want rebooted", st["dev-000"])
	}
	if d := st["dev-001"]; d.Status != campaign.Failed || !strings.Contains(d.Reason, "attestation refused") {
		t.Errorf("dev-001: %+v, want failed: attestation refused", d)
	}
	if d := st["dev-002"]; d.Status != campaign.Failed || !strings.Contains(d.Reason, "reboot loop") {
		t.Errorf("dev-002: %+v, want failed: reboot loop", d)
	}
}

// TestThresholdPausesWhenFailureRecorded: the failure that crosses the
// threshold pauses the campaign under the same lock that records it, so
// no reader sees every device failed on a running campaign (the race that
// made TestTamperedImageRefusedByEveryDevice flaky). The pause is then
// recorded and audited once, by the next step, or by Close when no step
// runs, or before an operator's action on the campaign.
func TestThresholdPausesWhenFailureRecorded(t *testing.T) {
	ctx := context.Background()
	pausedAudits := func(b *bench, id string) int {
		t.Helper()
		l, err := b.db.AuditLog(ctx, store.AuditFilter{Subject: id, Action: "campaign.paused"})
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	run := func(t *testing.T, id string, record func(b *bench, e *campaign.Engine)) {
		b := newBench(t, 3)
		e := b.engine(t)
		spec := campaign.Spec{ID: id, Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
			Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}}
		if _, err := e.Create(ctx, spec, "test"); err != nil {
			t.Fatal(err)
		}
		if err := e.Step(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			dev := fmt.Sprintf("dev-%03d", i)
			if s, _ := e.Status(id, false); s.State != campaign.Running {
				t.Fatalf("before %s failed: %s, want running (threshold 100%%)", dev, s.State)
			}
			report(t, e, dev, deviceproto.Outcome{JobID: id, OK: false, Version: "1.0.0", Error: "agent: image digest mismatch"})
		}
		// No step has run since the failures.
		if s, _ := e.Status(id, false); s.State != campaign.Paused || s.Counts[campaign.Failed] != 3 {
			t.Fatalf("after the third failure: %s with %v, want paused at once", s.State, s.Counts)
		}
		record(b, e)
		r, err := b.db.Campaign(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != string(campaign.Paused) || !strings.Contains(r.Reason, "failure threshold") {
			t.Fatalf("stored: %s (%s), want paused by the threshold", r.State, r.Reason)
		}
		if n := pausedAudits(b, id); n != 1 {
			t.Fatalf("%d campaign.paused audit entries, want 1", n)
		}
	}
	t.Run("step", func(t *testing.T) {
		run(t, "p-step", func(b *bench, e *campaign.Engine) {
			for i := 0; i < 2; i++ { // the second step has nothing to record
				if err := e.Step(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
	t.Run("close", func(t *testing.T) {
		run(t, "p-close", func(b *bench, e *campaign.Engine) {
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("operator", func(t *testing.T) {
		run(t, "p-op", func(b *bench, e *campaign.Engine) {
			if _, err := e.Control(ctx, "p-op", campaign.Pause, "test", "again"); !errors.Is(err, campaign.ErrState) {
				t.Fatalf("pause of a paused campaign: %v, want ErrState", err)
			}
			if err := e.Step(ctx); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestUnansweredJobPublishedAgain: jobs that never reached their devices
// (lost on the way, the device still connected) are published again by
// the evaluator once the devices have left them unanswered for 30 s, and
// again at that period until they answer; a device that answered is not
// sent its job again.
func TestUnansweredJobPublishedAgain(t *testing.T) {
	b := newBench(t, 4)
	ctx := context.Background()
	e := b.engine(t)
	lost := true
	b.lose = func(string) bool { return lost }
	spec := campaign.Spec{ID: "c1", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 4}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.published(); n != 0 {
		t.Fatalf("%d jobs arrived, want every one lost", n)
	}
	b.advance(29 * time.Second)
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	b.advance(2 * time.Second) // 31 s after the notification
	lost = false
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.published(); n != 4 {
		t.Fatalf("%d jobs published again after 31 s unanswered, want 4", n)
	}
	// One device answers (its download begins); the others stay silent and
	// get their jobs again 30 s later, the one that answered does not.
	var answered string
	for id := range b.jobs {
		answered = id
		break
	}
	req, _ := http.NewRequest("GET", b.job(t, answered).URL, nil)
	req.Header.Set("Range", "bytes=0-99")
	if r, err := httpsClient.Do(req); err != nil || r.StatusCode != http.StatusPartialContent {
		t.Fatalf("range download: %v %v", r, err)
	}
	b.mu.Lock()
	repeats := b.repeats
	b.mu.Unlock()
	b.advance(31 * time.Second)
	if err := e.Step(ctx); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if got := b.repeats - repeats; got != 3 {
		t.Fatalf("%d jobs published a third time, want the 3 unanswered", got)
	}
}

// TestJobsOfAFailedStepPublishedNext: a step whose writes fail (the
// database, here a context cancelled between the decisions and the
// writes) keeps its jobs, and the next step publishes them as soon as the
// notifications are stored, not after the devices have left them
// unanswered for 30 s.
func TestJobsOfAFailedStepPublishedNext(t *testing.T) {
	b := newBench(t, 4)
	e := b.engine(t)
	spec := campaign.Spec{ID: "c1", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100, FailureThreshold: 1}}, MaxConcurrent: 4}
	if _, err := e.Create(context.Background(), spec, "test"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	campaign.SetHookBeforeSave(e, cancel)
	if err := e.Step(ctx); err == nil {
		t.Fatal("a step whose writes failed reported no error")
	}
	campaign.SetHookBeforeSave(e, nil)
	if n := b.published(); n != 0 {
		t.Fatalf("%d jobs published by a step whose writes failed", n)
	}
	if err := e.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := b.published(); n != 4 {
		t.Fatalf("%d jobs published by the next step, want the 4 the failed step decided", n)
	}
}

// A campaign is refused, with a clear error, while a fleet CA rotation is
// staged or active, and accepted again once the rotation is retired. On
// the old code it was created mid-rotation.
func TestCampaignRefusedDuringCARotation(t *testing.T) {
	b := newBench(t, 4)
	ctx := context.Background()
	e := b.engine(t)
	spec := campaign.Spec{ID: "rot", Release: b.release, Filter: campaign.Filter{States: []store.State{store.Registered}},
		Phases: []campaign.Phase{{Percent: 100}}, MaxConcurrent: 4}
	rot := &store.CARotation{Generation: 2, CertPEM: []byte("new"), KeyPEM: []byte("key"), PrevCertPEM: []byte("old"), CrossPEM: []byte("cross"), Rate: 600}
	if err := b.db.StartCARotation(ctx, rot, nil); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct{ from, to string }{{"", store.RotationStaged}, {store.RotationStaged, store.RotationActive}} {
		if step.from != "" {
			if ok, err := b.db.AdvanceCARotation(ctx, 2, step.from, step.to, nil); err != nil || !ok {
				t.Fatalf("advance to %s: %v %v", step.to, ok, err)
			}
		}
		_, err := e.Create(ctx, spec, "test")
		if !errors.Is(err, campaign.ErrState) || !strings.Contains(err.Error(), "CA rotation") || !strings.Contains(err.Error(), step.to) {
			t.Fatalf("campaign while the rotation is %s: %v, want a refusal naming the rotation", step.to, err)
		}
	}
	if ok, err := b.db.AdvanceCARotation(ctx, 2, store.RotationActive, store.RotationRetired, nil); err != nil || !ok {
		t.Fatalf("retire: %v %v", ok, err)
	}
	if _, err := e.Create(ctx, spec, "test"); err != nil {
		t.Fatalf("campaign after the rotation retired: %v", err)
	}
}
