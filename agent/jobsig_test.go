package agent

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"rampart/fleet/ca"
)

// jobWorld is a fleet CA with its job signer, a device certificate from it
// and a clock.
type jobWorld struct {
	ca      *ca.CA
	signer  *JobSigner
	device  *x509.Certificate // CN dev-a
	devKey  *ecdsa.PrivateKey
	server  *x509.Certificate // the fleet's TLS certificate
	srvKey  *ecdsa.PrivateKey
	now     time.Time
	enroll  string
	payload Job
}

func newJobWorld(t testing.TB) *jobWorld {
	t.Helper()
	return newJobWorldEndpoints(t, nil)
}

func newJobWorldEndpoints(t testing.TB, endpoints []string) *jobWorld {
	t.Helper()
	w := &jobWorld{now: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), enroll: "https://fleet.example:8443"}
	clock := func() time.Time { return w.now }
	c, err := ca.Open(t.TempDir(), []byte("job world passphrase"), ca.Options{Rand: rand.Reader, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	w.ca = c
	key := genKey(t)
	cert, err := c.IssueJobSigner(&key.PublicKey, endpoints, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.signer = &JobSigner{Key: key, Cert: cert, Now: clock}
	w.devKey = genKey(t)
	if w.device, err = c.IssueDevice(&w.devKey.PublicKey, "dev-a", []byte{1, 2, 3}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	w.srvKey = genKey(t)
	if w.server, err = c.IssueServer(&w.srvKey.PublicKey, []string{"fleet.example"}, 90*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	w.payload = Job{ID: "rollout-2.0.0", Version: "2.0.0", URL: w.enroll + "/images/abc?device=dev-a&token=00", Size: 4843,
		SHA256: "5f1d4ee3b0b0a4c2c5e0b1e9c2d1a7f0e6d3c2b1a09f8e7d6c5b4a3928170615"}
	return w
}

func genKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (w *jobWorld) policy() JobPolicy {
	return JobPolicy{Roots: w.ca.Pool(), Device: w.device, EnrollURL: w.enroll, Now: w.now}
}

func (w *jobWorld) sign(t testing.TB, device string, j Job) []byte {
	t.Helper()
	b, err := w.signer.Sign(device, j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signRaw makes a job message of any payload with any key and
// certificate: what a forger can build.
func signRaw(t testing.TB, key crypto.Signer, cert *x509.Certificate, payload []byte) []byte {
	t.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = JobContentType
	msg.Headers.Protected[cose.HeaderLabelX5Chain] = cert.Raw
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// genuinePayload is the JSON the job signer would sign for dev-a now.
func (w *jobWorld) genuinePayload(t testing.TB, edit func(*Job)) []byte {
	t.Helper()
	j := w.payload
	j.Device, j.Nonce, j.Issued, j.Expires = "dev-a", make([]byte, 32), w.now.UnixMilli(), w.now.Add(time.Hour).UnixMilli()
	if edit != nil {
		edit(&j)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignedJobRoundTrip(t *testing.T) {
	w := newJobWorld(t)
	msg := w.sign(t, "dev-a", w.payload)
	j, err := VerifyJob(msg, w.policy())
	if err != nil {
		t.Fatal(err)
	}
	want := w.payload
	want.Device, want.Nonce, want.Issued, want.Expires = "dev-a", j.Nonce, w.now.UnixMilli(), w.now.Add(DefaultJobTTL).UnixMilli()
	if !j.Equal(want) || len(j.Nonce) != 32 {
		t.Fatalf("verified job %+v, want %+v", j, want)
	}
	// Issued strictly increases, even within one millisecond.
	j2, err := VerifyJob(w.sign(t, "dev-a", w.payload), w.policy())
	if err != nil || j2.Issued <= j.Issued {
		t.Fatalf("second job issued %d after %d (%v)", j2.Issued, j.Issued, err)
	}
	for i := range len(msg) {
		if _, err := DecodeJob(msg[:i]); err == nil {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
	// The signer refuses what no agent accepts.
	bad := w.payload
	bad.URL = "http://fleet.example:8443/images/abc"
	if _, err := w.signer.Sign("dev-a", bad); !errors.Is(err, ErrJobURL) {
		t.Fatalf("signer signed a plain http job: %v", err)
	}
}

// TestJobRefusals: every job a device must not act on is refused with the
// reason: unsigned (the format before signing), signed by a key that is not
// the fleet's job signer (a device's own key and certificate, the server's
// TLS key, another CA's job signer), altered after signing, for another
// device, expired, or pointing outside the fleet's https endpoints.
func TestJobRefusals(t *testing.T) {
	w := newJobWorld(t)
	other := newJobWorld(t) // another fleet: its own CA and job signer
	genuine := w.sign(t, "dev-a", w.payload)
	flipped := append([]byte(nil), genuine...)
	flipped[len(flipped)-70] ^= 1 // inside the payload
	sigFlip := append([]byte(nil), genuine...)
	sigFlip[len(sigFlip)-1] ^= 1
	unsigned := w.genuinePayload(t, nil)
	otherCA := other.sign(t, "dev-a", other.payload)
	w.now = w.now.Add(time.Millisecond)
	cases := []struct {
		name string
		msg  []byte
		want error
	}{
		{"unsigned JSON job", unsigned, ErrJobEnvelope},
		{"signed by a device key and certificate", signRaw(t, w.devKey, w.device, w.genuinePayload(t, nil)), ErrJobSignature},
		{"signed by the server's TLS key", signRaw(t, w.srvKey, w.server, w.genuinePayload(t, nil)), ErrJobSignature},
		{"signed by another fleet's job signer", otherCA, ErrJobSignature},
		{"signer certificate with another key", signRaw(t, genKey(t), w.signer.Cert, w.genuinePayload(t, nil)), ErrJobSignature},
		{"payload altered", flipped, nil},
		{"signature altered", sigFlip, ErrJobSignature},
		{"for another device", w.sign(t, "dev-b", w.payload), ErrJobDevice},
		{"expired", signRaw(t, w.signer.Key, w.signer.Cert, w.genuinePayload(t, func(j *Job) { j.Issued, j.Expires = j.Issued-7200_000, j.Issued-1 })), ErrJobExpired},
		{"plain http", signRaw(t, w.signer.Key, w.signer.Cert, w.genuinePayload(t, func(j *Job) { j.URL = "http://fleet.example:8443/images/abc" })), ErrJobURL},
		{"another host", w.sign(t, "dev-a", func() Job { j := w.payload; j.URL = "https://evil.example/v2.bin"; return j }()), ErrJobURL},
		{"another port", w.sign(t, "dev-a", func() Job { j := w.payload; j.URL = "https://fleet.example:9443/v2.bin"; return j }()), ErrJobURL},
		{"empty", nil, ErrJobEnvelope},
		{"oversized", append([]byte{0xd2}, make([]byte, MaxJobSize)...), ErrJobEnvelope},
	}
	for _, tc := range cases {
		_, err := VerifyJob(tc.msg, w.policy())
		switch {
		case err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		case !strings.HasPrefix(err.Error(), "agent: job"):
			t.Errorf("%s: error %q lacks the package", tc.name, err)
		}
	}
	// The clock past the expiry refuses a genuine job too.
	w.now = w.now.Add(DefaultJobTTL + time.Minute)
	if _, err := VerifyJob(genuine, w.policy()); !errors.Is(err, ErrJobExpired) && !errors.Is(err, ErrJobSignature) {
		t.Fatalf("job past its expiry: %v", err)
	}
}

// TestJobEndpointsOfTheSigner: the job signer's certificate may name other
// https download endpoints; only those, and the enrollment endpoint, pass.
func TestJobEndpointsOfTheSigner(t *testing.T) {
	w := newJobWorldEndpoints(t, []string{"https://cdn.example:8444"})
	for url, ok := range map[string]bool{
		"https://cdn.example:8444/v2.bin":  true,
		"https://CDN.example:8444/v2.bin":  true,
		"https://fleet.example:8443/x":     true,
		"https://cdn.example/v2.bin":       false,
		"https://cdn.example:8445/v2.bin":  false,
		"https://fleet.example.evil/x":     false,
		"https://cdn.example:8444@evil/x":  false,
		"https://evil.example/cdn.example": false,
	} {
		j := w.payload
		j.URL = url
		msg, err := w.signer.Sign("dev-a", j)
		if err == nil {
			_, err = VerifyJob(msg, w.policy())
		}
		if (err == nil) != ok {
			t.Errorf("%s: %v, want accepted %v", url, err, ok)
		}
	}
	if _, err := w.ca.IssueJobSigner(&genKey(t).PublicKey, []string{"http://cdn.example"}, time.Hour); err == nil {
		t.Fatal("a plain http endpoint was certified")
	}
}

// TestJobReplayRefused: the agent refuses a genuine job issued before the
// last one it took (or at the same time under another ID), and passes the
// last one itself, which the broker redelivers at every connection.
func TestJobReplayRefused(t *testing.T) {
	w := newJobWorld(t)
	a := &Agent{cfg: Config{Roots: w.ca.Pool(), EnrollURL: w.enroll, Now: func() time.Time { return w.now }}, cert: w.device, state: &State{}}
	old := w.sign(t, "dev-a", func() Job { j := w.payload; j.ID = "old"; return j }())
	w.now = w.now.Add(time.Second)
	current := w.sign(t, "dev-a", w.payload)
	j, err := a.verifyJob(current)
	if err != nil {
		t.Fatal(err)
	}
	a.state.Taken = &TakenJob{ID: j.ID, Issued: j.Issued}
	if _, err := a.verifyJob(current); err != nil {
		t.Fatalf("the job taken, redelivered: %v", err)
	}
	if _, err := a.verifyJob(old); !errors.Is(err, ErrJobReplayed) {
		t.Fatalf("an older job after a newer one was taken: %v", err)
	}
	a.state.Taken.ID = "another"
	if _, err := a.verifyJob(current); !errors.Is(err, ErrJobReplayed) {
		t.Fatalf("a job issued at the same time as another taken: %v", err)
	}
	w.now = w.now.Add(time.Second)
	if _, err := a.verifyJob(w.sign(t, "dev-a", w.payload)); err != nil {
		t.Fatalf("a newer job: %v", err)
	}
}

// FuzzVerifyJob feeds the verifier mutated job messages (seeded with a
// genuine one): it must never panic, and whatever it accepts must be the
// genuine job (only the ignored unprotected header may differ).
func FuzzVerifyJob(f *testing.F) {
	w := newJobWorld(f)
	genuine := w.sign(f, "dev-a", w.payload)
	want, err := VerifyJob(genuine, w.policy())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(genuine)
	f.Add(w.genuinePayload(f, nil))
	f.Add(signRaw(f, w.devKey, w.device, w.genuinePayload(f, nil)))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeJob(b)
		if err != nil {
			return
		}
		if err := s.Job.Validate(); err != nil {
			t.Fatalf("decoded job does not validate: %v", err)
		}
		if err := s.Verify(w.policy()); err != nil {
			return
		}
		if !s.Job.Equal(want) {
			t.Fatalf("accepted a job other than the genuine one: %+v", s.Job)
		}
	})
}

// FuzzJobPayload: a payload either fails to parse, or round-trips.
func FuzzJobPayload(f *testing.F) {
	f.Add([]byte(samplePayload))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := parseJobPayload(b)
		if err != nil {
			return
		}
		out, err := j.marshalPayload()
		if err != nil {
			t.Fatalf("valid job does not marshal: %v", err)
		}
		j2, err := parseJobPayload(out)
		if err != nil || !j2.Equal(j) {
			t.Fatalf("round trip: %+v %v", j2, err)
		}
	})
}

// BenchmarkSignJob is the server's cost per job published.
func BenchmarkSignJob(b *testing.B) {
	w := newJobWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.signer.Sign("dev-a", w.payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJob is the device's cost per job message: the signer's
// chain and the COSE signature (two ECDSA verifications).
func BenchmarkVerifyJob(b *testing.B) {
	w := newJobWorld(b)
	msg := w.sign(b, "dev-a", w.payload)
	p := w.policy()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyJob(msg, p); err != nil {
			b.Fatal(err)
		}
	}
}
