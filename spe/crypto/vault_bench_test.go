package crypto

import (
	"crypto"
	"crypto/sha256"
	"testing"
	"time"

	"rampart/psa"
)

// BenchmarkSignHashTPMKey compares, in one run, psa_sign_hash through the
// SPE with a key in the TPM, the TPM's own signing (rot.SignECDSA on the
// same open connection, no SPE), and psa_sign_hash with a local key:
// tpm/direct is the SPE's overhead on top of the TPM, tpm/local what the
// TPM costs against software ECDSA.
func BenchmarkSignHashTPMKey(b *testing.B) {
	r, err := openTPMB(b)
	if err != nil {
		b.Fatal(err)
	}
	e := startSPEOptions(b, "", nil, Options{Vault: r})
	c := e.dial(b)
	tpmID, err := c.GenerateKey(withID(tpmKey, 1))
	if err != nil {
		b.Fatal(err)
	}
	local := tpmKey
	local.Lifetime, local.Usage = psa.LifetimeVolatile, psa.UsageSignHash
	localID, err := c.GenerateKey(local)
	if err != nil {
		b.Fatal(err)
	}
	handle, _, err := r.GenerateECDSA(256)
	if err != nil {
		b.Fatal(err)
	}
	d := sha256.Sum256([]byte("benchmark"))
	// The three are interleaved in every iteration, so that the machine's
	// load drifts over all of them alike; each gets its own metric.
	var tpm, direct, loc time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := c.SignHash(tpmID, psa.AlgECDSA(psa.AlgSHA256), d[:]); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := r.SignECDSA(handle, crypto.SHA256, d[:]); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, err := c.SignHash(localID, psa.AlgECDSA(psa.AlgSHA256), d[:]); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		tpm, direct, loc = tpm+t1.Sub(t0), direct+t2.Sub(t1), loc+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tpm.Nanoseconds())/n, "tpm-ns/op")
	b.ReportMetric(float64(direct.Nanoseconds())/n, "direct-ns/op")
	b.ReportMetric(float64(loc.Nanoseconds())/n, "local-ns/op")
	b.ReportMetric(float64(tpm)/float64(direct), "tpm/direct")
	b.ReportMetric(float64(tpm)/float64(loc), "tpm/local")
}
