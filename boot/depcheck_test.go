package boot

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"

	"rampart/image"
)

// badDepImage is makeImage(s) signed with ecdsaKey whose protected TLVs hold
// a DEPENDENCY TLV of 8 bytes instead of 12 (image.Sign writes only
// well-formed ones: it is written as a custom TLV, retyped, and the hash
// and signature made again over the result).
func badDepImage(t testing.TB, s imgSpec) []byte {
	t.Helper()
	s.key = ecdsaKey
	s.tlvs = []image.TLV{{Type: image.TLVVendorMin, Value: []byte{0, 0, 0, 0, 9, 0, 0, 0}}}
	b := makeImage(t, s)
	img, err := image.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	custom := img.Protected.Find(image.TLVVendorMin)[0]
	binary.LittleEndian.PutUint16(b[custom.Offset:], image.TLVDependency)
	h := img.Header
	digest := sha256.Sum256(b[:int(h.HdrSize)+int(h.ImgSize)+int(h.ProtectTLVSize)])
	copy(b[img.Unprotected.Find(image.TLVSHA256)[0].Offset+4:], digest[:])
	sig := img.Unprotected.Find(image.TLVECDSASig)[0]
	r := rand.NewChaCha8([32]byte{7})
	for {
		// The signature TLV keeps its length, so nothing else moves.
		der, err := ecdsa.SignASN1(r, ecdsaKey, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		if len(der) == len(sig.Value) {
			copy(b[sig.Offset+4:], der)
			return b
		}
	}
}

func TestBadDepImageIsValidButMalformed(t *testing.T) {
	b := badDepImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 3})
	img, err := image.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := img.Dependencies(); err == nil {
		t.Fatal("the DEPENDENCY TLV is well formed")
	}
	r := newRig(t, layouts[0].config(SwapMove, 8, 0xff, 1))
	if _, err := r.bl.validate(b, 0, 1<<20, true); err != nil {
		t.Fatalf("not a valid image apart from its DEPENDENCY TLV: %v", err)
	}
}

// twoImages is a two-image rig of strategy whose primaries hold version
// 1.0.0 and whose secondaries new[i], each with a test request.
func twoImages(t *testing.T, strategy Strategy, new ...[]byte) *rig {
	r := newRig(t, layouts[0].config(strategy, 8, 0xff, 2))
	for i := range 2 {
		r.install(i, Primary, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 4000 + 300*i, seed: uint64(10 + i)}))
		r.install(i, Secondary, new[i])
		r.request(i, false)
	}
	return r
}

// TestDependencyFailureCancelsEveryUpgrade: as MCUboot's swap-mode
// boot_verify_dependencies, an unmet dependency of one image cancels the
// other image's upgrade too (Rampart used to upgrade image 0 alone).
func TestDependencyFailureCancelsEveryUpgrade(t *testing.T) {
	for _, st := range []Strategy{SwapMove, SwapScratch, SwapOffset} {
		r := twoImages(t, st,
			makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 20}),
			makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 21, deps: []image.Dependency{{ImageID: 0, Version: image.Version{Major: 3}}}}))
		ops := r.dev.Ops()
		res := r.boot()
		if res.Images[0].Version != "1.0.0+0" || res.Images[1].Version != "1.0.0+0" || r.dev.Ops() != ops {
			t.Fatalf("%s: booted %s and %s after %d operations\n%s", st, res.Images[0].Version, res.Images[1].Version, r.dev.Ops()-ops, notes(res))
		}
		if !strings.Contains(notes(res), "test cancelled: image 1's dependency check failed") {
			t.Errorf("%s: the notes do not say why:\n%s", st, notes(res))
		}
	}
}

// TestMalformedDependencyCancelsEveryUpgrade: a DEPENDENCY TLV that is not
// 12 bytes long fails the dependency check (MCUboot's BOOT_EBADIMAGE), not
// the image's validation: the image is kept, not erased, and neither image
// is upgraded (Rampart used to erase it and upgrade image 1).
func TestMalformedDependencyCancelsEveryUpgrade(t *testing.T) {
	bad := badDepImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 20})
	r := twoImages(t, SwapScratch, bad, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 21}))
	res := r.boot()
	if res.Images[0].Version != "1.0.0+0" || res.Images[1].Version != "1.0.0+0" {
		t.Fatalf("booted %s and %s\n%s", res.Images[0].Version, res.Images[1].Version, notes(res))
	}
	if got := r.slotBytes(0, Secondary, len(bad)); !bytes.Equal(got, bad) {
		t.Fatalf("image 0's secondary slot was changed\n%s", notes(res))
	}
}

// TestUnreadableDependenciesCancelRevert is the full sweep's disagreement
// (mixed-2k-8k, offset-enc-test-revert-2img, cut 61) in small: image 1's
// primary holds no image (its header erased) and image 0 has a revert to
// do. MCUboot's dependency check reads image 1's TLV info at the erased
// header's hdr_size + img_size, cannot, and cancels the revert: no flash
// operation, and no bootable image. Rampart used to revert image 0 first.
func TestUnreadableDependenciesCancelRevert(t *testing.T) {
	for _, st := range []Strategy{SwapMove, SwapScratch, SwapOffset} {
		r := twoImages(t, st,
			makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 20}),
			makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 5000, seed: 21}))
		r.boot() // both tested
		im := r.bl.l.images[1]
		if err := r.bl.io.eraseFrom(im.primary, 0); err != nil {
			t.Fatal(err)
		}
		if err := r.bl.io.eraseFrom(im.secondary, 0); err != nil {
			t.Fatal(err)
		}
		ops := r.dev.Ops()
		res, err := r.bl.Boot()
		if err == nil || r.dev.Ops() != ops {
			t.Fatalf("%s: %v after %d operations\n%s", st, err, r.dev.Ops()-ops, notes(res))
		}
		if !strings.Contains(notes(res), "revert cancelled: image 1's dependency check failed") {
			t.Errorf("%s: the notes do not say why:\n%s", st, notes(res))
		}
	}
}
