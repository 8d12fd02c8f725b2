package boot

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"rampart/flash"
	"rampart/image"
)

// mibConfig is a one-image swap-move layout with 4 KiB sectors whose slots
// hold a 1 MiB firmware image.
func mibConfig(strategy Strategy) *Config {
	ls := layoutSpec{name: "1mib", bootSector: 16384, slotSector: []uint32{4096}, priSectors: []int{260}, secSectors: []int{259}, storageSector: 16384}
	return ls.config(strategy, 8, 0xff, 1)
}

// BenchmarkPowerCutSweep1MiB cuts the power before every flash operation of
// a permanent 1 MiB upgrade (one full sweep per iteration), reboots to
// completion and checks the device boots the new image each time.
func BenchmarkPowerCutSweep1MiB(b *testing.B) {
	for _, strategy := range []Strategy{SwapMove, OverwriteOnly} {
		b.Run(string(strategy), func(b *testing.B) {
			cfg := mibConfig(strategy)
			r := newRig(b, cfg)
			old := makeImage(b, imgSpec{ver: "1.0.0", secCnt: 1, size: 1 << 20, seed: 1})
			upd := makeImage(b, imgSpec{ver: "2.0.0", secCnt: 2, size: 1 << 20, seed: 2})
			r.install(0, Primary, old)
			r.install(0, Secondary, upd)
			r.request(0, true)
			snap, ctr := r.dev.Clone(), r.ctr.Clone()
			// One uninterrupted run counts the operations.
			r.dev.SetFault(nil)
			if _, err := r.bl.Boot(); err != nil {
				b.Fatal(err)
			}
			total := r.dev.Ops()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				for cut := 1; cut <= total; cut++ {
					r.dev.CopyFrom(snap)
					*r.ctr = *ctr.Clone()
					r.dev.SetFault(&flash.Fault{CutBefore: cut})
					if _, err := r.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
						b.Fatalf("cut %d: %v", cut, err)
					}
					r.dev.PowerOn()
					res, err := r.bl.Boot()
					if err != nil || res.Images[0].Version != "2.0.0+0" {
						b.Fatalf("cut %d: %v", cut, err)
					}
				}
			}
			el := time.Since(start)
			b.ReportMetric(float64(total), "cutpoints")
			b.ReportMetric(el.Seconds()/float64(b.N), "s/sweep")
			b.ReportMetric(float64(el.Microseconds())/float64(b.N*total), "µs/cutpoint")
		})
	}
}

// BenchmarkBootValidation1MiB compares one boot with nothing pending (read
// the slots, validate the 1 MiB primary image, check the counter, measure)
// with the raw primitives: SHA-256 of the hashed region plus one Ed25519
// verification, in the same run.
func BenchmarkBootValidation1MiB(b *testing.B) {
	cfg := mibConfig(SwapMove)
	r := newRig(b, cfg)
	img := makeImage(b, imgSpec{ver: "1.0.0", secCnt: 1, size: 1 << 20, seed: 1})
	r.install(0, Primary, img)
	if _, err := r.bl.Boot(); err != nil {
		b.Fatal(err)
	}
	parsed, err := image.Parse(img)
	if err != nil {
		b.Fatal(err)
	}
	region := parsed.HashedRegion()
	digest := sha256.Sum256(region)
	sig := ed25519.Sign(testKey, digest[:])
	pub := testKey.Public().(ed25519.PublicKey)
	b.Run("boot", func(b *testing.B) {
		b.SetBytes(int64(len(region)))
		for range b.N {
			res, err := r.bl.Boot()
			if err != nil || !res.Images[0].Booted {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-sha256+ed25519", func(b *testing.B) {
		b.SetBytes(int64(len(region)))
		for range b.N {
			d := sha256.Sum256(region)
			if !ed25519.Verify(pub, d[:], sig) {
				b.Fatal("verify")
			}
		}
	})
}
