package image

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"testing"
	"time"
)

var benchSizes = []struct {
	name string
	n    int
}{{"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"16MiB", 16 << 20}}

func benchInput(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8)
	}
	return b
}

// sha256Time measures n SHA-256 passes over b: the raw baseline.
func sha256Time(b []byte, n int) time.Duration {
	start := time.Now()
	for range n {
		sha256.Sum256(b)
	}
	return time.Since(start)
}

// BenchmarkSHA256 is the raw primitive every image operation is bound by.
func BenchmarkSHA256(b *testing.B) {
	for _, s := range benchSizes {
		in := benchInput(s.n)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.n))
			for b.Loop() {
				sha256.Sum256(in)
			}
		})
	}
}

// BenchmarkVerify verifies Ed25519- and ECDSA-P256-signed images and
// reports vs-sha256: verify throughput divided by raw SHA-256 throughput
// over the same bytes, measured in the same run (1.0 = as fast as hashing).
func BenchmarkVerify(b *testing.B) {
	for _, kt := range []KeyType{KeyEd25519, KeyECDSAP256} {
		k := genKey(b, kt)
		for _, s := range benchSizes {
			res, err := Sign(benchInput(s.n), &SignOptions{Key: k, HeaderSize: 0x200, PadHeader: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", kt, s.name), func(b *testing.B) {
				b.SetBytes(int64(len(res.Bytes)))
				b.ReportAllocs()
				// Verify and the SHA-256 baseline alternate, so that load on a
				// shared machine hits both alike.
				var elapsed, base time.Duration
				for b.Loop() {
					start := time.Now()
					img, err := Parse(res.Bytes)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := img.Verify(VerifyOptions{Keys: []any{k.Public()}}); err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(start)
					b.StopTimer()
					base += sha256Time(res.Bytes, 1)
					b.StartTimer()
				}
				b.ReportMetric(float64(base)/float64(elapsed), "vs-sha256")
			})
		}
	}
}

// BenchmarkSign signs images of each size with Ed25519 and reports the same
// ratio to raw SHA-256.
func BenchmarkSign(b *testing.B) {
	k := genKey(b, KeyEd25519).(ed25519.PrivateKey)
	for _, s := range benchSizes {
		in := benchInput(s.n)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			var elapsed, base time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := Sign(in, &SignOptions{Key: k, HeaderSize: 0x200, PadHeader: true}); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				base += sha256Time(in, 1)
				b.StartTimer()
			}
			b.ReportMetric(float64(base)/float64(elapsed), "vs-sha256")
		})
	}
}

// BenchmarkSignTo is the streaming form the CLI uses (to io.Discard here):
// no copy of the firmware, so its cost is the hash and the signature.
func BenchmarkSignTo(b *testing.B) {
	k := genKey(b, KeyEd25519).(ed25519.PrivateKey)
	for _, s := range benchSizes {
		in := benchInput(s.n)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(s.n))
			b.ReportAllocs()
			var elapsed, base time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := SignTo(io.Discard, in, &SignOptions{Key: k, HeaderSize: 0x200, PadHeader: true}); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				base += sha256Time(in, 1)
				b.StartTimer()
			}
			b.ReportMetric(float64(base)/float64(elapsed), "vs-sha256")
		})
	}
}
