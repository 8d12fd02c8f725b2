package boot

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"rampart/image"
)

// The differential scenarios of the modes added after the first sweep:
// encrypted ram-load (decrypted into RAM from either slot), ram-load with
// revert (MCUBOOT_RAM_LOAD_REVERT), and direct-XIP and ram-load with two
// images. Each runs on Rampart and on MCUboot built for it, cut before
// every operation (docs/boot.md §5b, §10b).

// modeCase is one scenario with its images and the device's decrypt key
// (nil: encrypted_images off).
type modeCase struct {
	sc     scenario
	dec    any
	signer crypto.Signer
	images func(t testing.TB, cfg *Config) *imageSet
	// fast is the layout/alignment/erased-value the fast subset runs it on.
	fast string
}

// ramImage signs a ram-load image for loadAddr, with deps as its
// DEPENDENCY TLVs, and, when dec is not nil, encrypts it for dec's public
// half (as makeEncImageFor).
func ramImage(t testing.TB, ver string, secCnt uint32, size int, seed uint64, loadAddr uint32, dec any, key crypto.Signer, deps ...image.Dependency) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	fw := make([]byte, size)
	for i := range fw {
		fw[i] = byte(r.Uint32())
	}
	v, err := image.ParseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	o := &image.SignOptions{Key: key, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &secCnt,
		LoadAddr: loadAddr, Dependencies: deps, Rand: rand.NewChaCha8([32]byte{byte(seed), 0x52})}
	switch k := dec.(type) {
	case *ecdsa.PrivateKey:
		o.EncryptKey = &k.PublicKey
	case *ecdh.PrivateKey:
		o.EncryptKey = k.PublicKey()
	case []byte:
		o.EncryptKey = k
	}
	res, err := image.Sign(fw, o)
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes
}

// ramSet is n images for ram-load: image i's old version loads at
// testRAMStart + i*0x8000, its new one 0x100 above, so that both images
// fit side by side in the test maps' 64 KiB of RAM. sameCounter gives the
// new versions the old ones' security counter (see ram-load-revert).
func ramSet(n int, dec any, key crypto.Signer, sameCounter bool) func(t testing.TB, cfg *Config) *imageSet {
	return func(t testing.TB, _ *Config) *imageSet {
		s := &imageSet{}
		newCnt := uint32(2)
		if sameCounter {
			newCnt = 1
		}
		for i := range n {
			base := uint32(testRAMStart + i*0x8000)
			s.old = append(s.old, ramImage(t, "1.0.0", 1, 5000+300*i, uint64(30+i), base, dec, key))
			s.new = append(s.new, ramImage(t, "2.0.0", newCnt, 6000+500*i, uint64(40+i), base+0x100, dec, key))
		}
		return s
	}
}

// xipSet is n images without dependencies for direct-XIP.
func xipSet(n int) func(t testing.TB, cfg *Config) *imageSet {
	return func(t testing.TB, _ *Config) *imageSet {
		s := &imageSet{}
		for i := range n {
			s.old = append(s.old, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000 + 300*i, seed: uint64(50 + i), key: ecdsaKey}))
			s.new = append(s.new, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 6000 + 500*i, seed: uint64(60 + i), key: ecdsaKey}))
		}
		return s
	}
}

// depSet is xipSet(len(deps)), or ramSet(len(deps), ...) with ram, whose
// new images carry deps[i] as DEPENDENCY TLVs.
func depSet(ram bool, deps ...[]image.Dependency) func(t testing.TB, cfg *Config) *imageSet {
	return func(t testing.TB, _ *Config) *imageSet {
		s := &imageSet{}
		for i := range deps {
			if ram {
				base := uint32(testRAMStart + i*0x8000)
				s.old = append(s.old, ramImage(t, "1.0.0", 1, 5000+300*i, uint64(30+i), base, nil, ecdsaKey))
				s.new = append(s.new, ramImage(t, "2.0.0", 2, 6000+500*i, uint64(40+i), base+0x100, nil, ecdsaKey, deps[i]...))
				continue
			}
			s.old = append(s.old, makeImage(t, imgSpec{ver: "1.0.0", secCnt: 1, size: 5000 + 300*i, seed: uint64(50 + i), key: ecdsaKey}))
			s.new = append(s.new, makeImage(t, imgSpec{ver: "2.0.0", secCnt: 2, size: 6000 + 500*i, deps: deps[i], seed: uint64(60 + i), key: ecdsaKey}))
		}
		return s
	}
}

// encSwapSet is n images for an encrypted swap: the old ones in
// plaintext (as the primary holds them), the new ones encrypted for dec;
// big makes image 0's new one as large as its slots allow.
func encSwapSet(n int, dec any, key crypto.Signer, big bool) func(t testing.TB, cfg *Config) *imageSet {
	return func(t testing.TB, cfg *Config) *imageSet {
		s := &imageSet{}
		for i := range n {
			size := 6000 + 500*i
			if big && i == 0 {
				size = scenarioBody(cfg, scenario{big: true})
			}
			s.old = append(s.old, makeEncImageFor(t, "1.0.0", 1, 5000+300*i, uint64(70+i), dec, key).plain)
			s.new = append(s.new, makeEncImageFor(t, "2.0.0", 2, size, uint64(80+i), dec, key).wire)
		}
		return s
	}
}

// malformedDepSet is two images whose image 0 new version carries a
// DEPENDENCY TLV of 8 bytes (badDepImage); with ram, signed for ram-load
// at ramSet's addresses.
func malformedDepSet(ram bool) func(t testing.TB, cfg *Config) *imageSet {
	return func(t testing.TB, _ *Config) *imageSet {
		s := &imageSet{}
		for i := range 2 {
			o := imgSpec{ver: "1.0.0", secCnt: 1, size: 5000 + 300*i, seed: uint64(50 + i), key: ecdsaKey}
			n := imgSpec{ver: "2.0.0", secCnt: 2, size: 6000 + 500*i, seed: uint64(60 + i), key: ecdsaKey}
			if ram {
				o.loadAddr = uint32(testRAMStart + i*0x8000)
				n.loadAddr = o.loadAddr + 0x100
			}
			s.old = append(s.old, makeImage(t, o))
			if i == 0 {
				s.new = append(s.new, badDepImage(t, n))
			} else {
				s.new = append(s.new, makeImage(t, n))
			}
		}
		return s
	}
}

// flipped is b with its byte 3000 changed.
func flipped(b []byte) []byte {
	b = bytes.Clone(b)
	b[3000] ^= 0x40
	return b
}

// noSlotForImage0 leaves image 0 without a valid slot and gives image 1 a
// valid primary and a tampered secondary of a higher version.
func noSlotForImage0(r *rig, im *imageSet) {
	r.install(0, Primary, flipped(im.old[0]))
	r.install(0, Secondary, flipped(im.new[0]))
	r.install(1, Primary, im.old[1])
	r.install(1, Secondary, flipped(im.new[1]))
}

// badPrimary0 installs image 0's old version tampered and image 1's as it
// is, without requests.
func badPrimary0(r *rig, im *imageSet) {
	r.install(0, Primary, flipped(im.old[0]))
	r.install(1, Primary, im.old[1])
}

// tamperedStage is stage(false) with image 0's new body flipped.
func tamperedStage(r *rig, im *imageSet) {
	stage(false)(r, im)
	bad := bytes.Clone(im.new[0])
	bad[3000] ^= 0x40
	r.install(0, Secondary, bad)
	r.request(0, false)
}

// bothSlots installs old images in the primary slots and new ones in the
// secondary slots; with request, the primary trailers are confirmed (as
// imgtool --confirm) and the secondaries get a test or permanent request.
func bothSlots(request, perm bool) func(r *rig, im *imageSet) {
	return func(r *rig, im *imageSet) {
		for i := range im.old {
			r.install(i, Primary, im.old[i])
			r.install(i, Secondary, im.new[i])
			if request {
				r.confirmTrailer(i, Primary)
				r.request(i, perm)
			}
		}
	}
}

// tamperSecondary is bothSlots with image 0's secondary body flipped
// (Install erases the slot first).
func tamperSecondary(r *rig, im *imageSet) {
	bothSlots(false, false)(r, im)
	bad := bytes.Clone(im.new[0])
	bad[3000] ^= 0x40
	r.install(0, Secondary, bad)
}

// otherEncKey is a P-256 decrypt key the device does not hold.
var otherEncKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{9}))
	if err != nil {
		panic(err)
	}
	return k
}()

func modeCases() []modeCase {
	const u = "uniform-4k/align8/erasedff"
	const m = "mixed-2k-8k/align1/erasedff"
	const s = "small-1k-big-boot/align32/erased00"
	testRevert := func(n int) []step {
		return []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "1.0.0+0")...), bootStep(rep(n, "1.0.0+0")...)}
	}
	testConfirm := func(n int) []step {
		return append(append([]step{bootStep(rep(n, "2.0.0+0")...)}, confirmSteps(n)...), bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "2.0.0+0")...))
	}
	twice := func(n int, v ...string) []step {
		if len(v) == 1 {
			v = rep(n, v[0])
		}
		return []step{bootStep(v...), bootStep(v...)}
	}
	wrongKey := func(r *rig, im *imageSet) {
		r.install(0, Primary, im.old[0])
		r.install(0, Secondary, ramImage(r.t, "3.0.0", 3, 6000, 77, testRAMStart+0x200, otherEncKey, ecdsaKey))
	}
	revert := func(n int) []step {
		return []step{bootStep(rep(n, "2.0.0+0")...), bootStep(rep(n, "1.0.0+0")...), bootStep(rep(n, "1.0.0+0")...)}
	}
	return []modeCase{
		// Encrypted swap-offset: the new image, one sector into the
		// secondary, decrypted into the primary; the old one encrypted
		// into the secondary's start, and back on a revert. A cut that
		// leaves an upgrade to resume at its last sector makes MCUboot
		// encrypt the old image's last sector by the new image's header
		// (boot_read_image_header compares the 1-based status index with
		// the 0-based last index): the old image is lost, the revert is
		// refused and the new image keeps running, in both bootloaders
		// (docs/boot.md §5c). So the test-revert scenarios may lose the
		// revert (mayLoseUpgrade).
		{sc: scenario{name: "offset-enc-test-revert-1img", mayLoseUpgrade: true, strategy: SwapOffset, images: 1, setup: stage(false), steps: revert(1)},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "offset-enc-perm-1img", strategy: SwapOffset, images: 1, setup: stage(true), steps: twice(1, "2.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: s},
		{sc: scenario{name: "offset-enc-tampered-1img", strategy: SwapOffset, images: 1, setup: tamperedStage, steps: twice(1, "1.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: m},
		{sc: scenario{name: "offset-enc-x25519-test-revert-1img", mayLoseUpgrade: true, strategy: SwapOffset, images: 1, setup: stage(false), steps: revert(1)},
			dec: x25519Key, signer: testKey, images: encSwapSet(1, x25519Key, testKey, false)},
		{sc: scenario{name: "offset-enc-kw-test-revert-1img", mayLoseUpgrade: true, strategy: SwapOffset, images: 1, setup: stage(false), steps: revert(1)},
			dec: kwKey, signer: ecdsaKey, images: encSwapSet(1, kwKey, ecdsaKey, false)},
		{sc: scenario{name: "offset-enc-test-revert-2img", strategy: SwapOffset, images: 2, mayLoseUpgrade: true, setup: stage(false), steps: revert(2)},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(2, encKey, ecdsaKey, false), fast: m},
		// Encrypted swap-scratch: decrypted from the scratch into the
		// primary, the old image encrypted again into the secondary.
		{sc: scenario{name: "scratch-enc-test-revert-1img", strategy: SwapScratch, images: 1, setup: stage(false), steps: revert(1)},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: s},
		{sc: scenario{name: "scratch-enc-perm-1img", strategy: SwapScratch, images: 1, setup: stage(true), steps: twice(1, "2.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: m},
		{sc: scenario{name: "scratch-enc-test-revert-big-1img", strategy: SwapScratch, images: 1, setup: stage(false), steps: revert(1)},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, true)},
		{sc: scenario{name: "scratch-enc-tampered-1img", strategy: SwapScratch, images: 1, setup: tamperedStage, steps: twice(1, "1.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(1, encKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "scratch-enc-x25519-test-revert-1img", strategy: SwapScratch, images: 1, setup: stage(false), steps: revert(1)},
			dec: x25519Key, signer: testKey, images: encSwapSet(1, x25519Key, testKey, false)},
		{sc: scenario{name: "scratch-enc-kw-test-revert-1img", strategy: SwapScratch, images: 1, setup: stage(false), steps: revert(1)},
			dec: kwKey, signer: ecdsaKey, images: encSwapSet(1, kwKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "scratch-enc-test-revert-2img", strategy: SwapScratch, images: 2, setup: stage(false), steps: revert(2)},
			dec: encKey, signer: ecdsaKey, images: encSwapSet(2, encKey, ecdsaKey, false)},
		// Encrypted ram-load: both slots hold ciphertext; the chosen image
		// is decrypted in RAM and validated there.
		{sc: scenario{name: "ram-load-enc-1img", strategy: RAMLoad, images: 1, setup: bothSlots(false, false), steps: twice(1, "2.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: ramSet(1, encKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "ram-load-enc-tampered-1img", strategy: RAMLoad, images: 1, setup: tamperSecondary, steps: twice(1, "1.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: ramSet(1, encKey, ecdsaKey, false), fast: m},
		{sc: scenario{name: "ram-load-enc-wrong-key-1img", strategy: RAMLoad, images: 1, setup: wrongKey, steps: twice(1, "1.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: ramSet(1, encKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "ram-load-enc-x25519-1img", strategy: RAMLoad, images: 1, setup: bothSlots(false, false), steps: twice(1, "2.0.0+0")},
			dec: x25519Key, signer: testKey, images: ramSet(1, x25519Key, testKey, false), fast: s},
		{sc: scenario{name: "ram-load-enc-kw-1img", strategy: RAMLoad, images: 1, setup: bothSlots(false, false), steps: twice(1, "2.0.0+0")},
			dec: kwKey, signer: ecdsaKey, images: ramSet(1, kwKey, ecdsaKey, false), fast: u},
		{sc: scenario{name: "ram-load-enc-2img", strategy: RAMLoad, images: 2, setup: bothSlots(false, false), steps: twice(2, "2.0.0+0")},
			dec: encKey, signer: ecdsaKey, images: ramSet(2, encKey, ecdsaKey, false), fast: m},
		// RAM-load with revert. The new images carry the old ones'
		// security counter: MCUboot raises the counter at the first boot
		// of a ram-load-revert test image (see TestRAMLoadRevertCounter).
		{sc: scenario{name: "ram-load-revert-test-revert-1img", strategy: RAMLoadRevert, images: 1, setup: bothSlots(true, false), steps: testRevert(1)},
			signer: ecdsaKey, images: ramSet(1, nil, ecdsaKey, true), fast: u},
		{sc: scenario{name: "ram-load-revert-test-confirm-1img", strategy: RAMLoadRevert, images: 1, setup: bothSlots(true, false), steps: testConfirm(1)},
			signer: ecdsaKey, images: ramSet(1, nil, ecdsaKey, false), fast: s},
		{sc: scenario{name: "ram-load-revert-perm-1img", strategy: RAMLoadRevert, images: 1, setup: bothSlots(true, true), steps: twice(1, "2.0.0+0")},
			signer: ecdsaKey, images: ramSet(1, nil, ecdsaKey, false), fast: m},
		{sc: scenario{name: "ram-load-revert-enc-test-revert-1img", strategy: RAMLoadRevert, images: 1, setup: bothSlots(true, false), steps: testRevert(1)},
			dec: encKey, signer: ecdsaKey, images: ramSet(1, encKey, ecdsaKey, true), fast: u},
		{sc: scenario{name: "ram-load-revert-test-confirm-2img", mayLoseUpgrade: true, strategy: RAMLoadRevert, images: 2, setup: bothSlots(true, false), steps: testConfirm(2)},
			signer: ecdsaKey, images: ramSet(2, nil, ecdsaKey, false), fast: u},
		// Two images in place and in RAM. With revert, a cut after one
		// image's copy_done and before the other's makes the first one
		// look booted and not confirmed: the next boot erases it, in both
		// bootloaders (mayLoseUpgrade).
		{sc: scenario{name: "xip-plain-2img", strategy: DirectXIP, images: 2, setup: bothSlots(false, false), steps: twice(2, "2.0.0+0")},
			signer: ecdsaKey, images: xipSet(2), fast: m},
		{sc: scenario{name: "xip-tampered-2img", strategy: DirectXIP, images: 2, setup: tamperSecondary, steps: []step{bootStep("1.0.0+0", "2.0.0+0"), bootStep("1.0.0+0", "2.0.0+0")}},
			signer: ecdsaKey, images: xipSet(2)},
		{sc: scenario{name: "xip-revert-test-revert-2img", mayLoseUpgrade: true, strategy: DirectXIPRevert, images: 2, setup: bothSlots(true, false), steps: testRevert(2)},
			signer: ecdsaKey, images: xipSet(2), fast: u},
		{sc: scenario{name: "xip-revert-test-confirm-2img", mayLoseUpgrade: true, strategy: DirectXIPRevert, images: 2, setup: bothSlots(true, false), steps: testConfirm(2)},
			signer: ecdsaKey, images: xipSet(2), fast: s},
		// Dependencies in place and in RAM (loader.c's
		// boot_verify_dependencies for direct-XIP and ram-load): a chosen
		// image whose DEPENDENCY TLV the other chosen images do not meet
		// is dropped (cleared from RAM, its slot not erased) and the
		// image's other slot tried. Image 0 is the one that falls back,
		// so that the slot MCUboot boots it from is compared; with ram-load
		// the RAM shows both images' choices, with revert the trailers.
		{sc: scenario{name: "xip-dep-unmet-2img", strategy: DirectXIP, images: 2, setup: bothSlots(false, false), steps: twice(2, "1.0.0+0", "2.0.0+0")},
			signer: ecdsaKey, images: depSet(false, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 3}}}, nil), fast: m},
		{sc: scenario{name: "xip-dep-met-2img", strategy: DirectXIP, images: 2, setup: bothSlots(false, false), steps: twice(2, "2.0.0+0", "2.0.0+0")},
			signer: ecdsaKey, images: depSet(false, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 2}}}, nil)},
		// The slot chosen first got its copy_done before its dependency
		// failed: the next boot erases it as chosen and not confirmed.
		{sc: scenario{name: "xip-revert-dep-unmet-2img", mayLoseUpgrade: true, strategy: DirectXIPRevert, images: 2, setup: bothSlots(true, false),
			steps: []step{bootStep("1.0.0+0", "2.0.0+0"), bootStep("1.0.0+0", "1.0.0+0"), bootStep("1.0.0+0", "1.0.0+0")}},
			signer: ecdsaKey, images: depSet(false, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 3}}}, nil), fast: u},
		// An image index the device does not have: never met.
		{sc: scenario{name: "ram-load-dep-bad-id-2img", strategy: RAMLoad, images: 2, setup: bothSlots(false, false), steps: twice(2, "1.0.0+0", "2.0.0+0")},
			signer: ecdsaKey, images: depSet(true, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 1}}, {ImageID: 7, Version: image.Version{Major: 1}}}, nil), fast: s},
		// Image 1's new version needs image 0's, whose secondary is
		// tampered: image 0 boots its old version, so image 1 falls back.
		{sc: scenario{name: "ram-load-dep-chain-2img", strategy: RAMLoad, images: 2, setup: tamperSecondary, steps: twice(2, "1.0.0+0", "1.0.0+0")},
			signer: ecdsaKey, images: depSet(true, nil, []image.Dependency{{ImageID: 0, Version: image.Version{Major: 2}}}), fast: u},
		// One image: MCUboot builds its dependency check only for
		// MCUBOOT_IMAGE_NUMBER > 1, so a single image's DEPENDENCY TLVs,
		// even on an image it does not have, are ignored in every mode.
		{sc: scenario{name: "xip-dep-ignored-1img", strategy: DirectXIP, images: 1, setup: bothSlots(false, false), steps: twice(1, "2.0.0+0")},
			signer: ecdsaKey, images: depSet(false, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 3}}}), fast: u},
		{sc: scenario{name: "swap-dep-ignored-1img", strategy: SwapMove, images: 1, setup: stage(false), steps: testRevert(1)},
			signer: ecdsaKey, images: depSet(false, []image.Dependency{{ImageID: 1, Version: image.Version{Major: 3}}}), fast: m},
		// A DEPENDENCY TLV of 8 bytes in image 0's new version: the image
		// is valid, the dependency check fails (BOOT_EBADIMAGE). With the
		// swap modes every upgrade is cancelled; in place and in RAM the
		// slot is dropped, not erased, and image 0 falls back.
		{sc: scenario{name: "scratch-dep-malformed-2img", strategy: SwapScratch, images: 2, setup: stage(false), steps: twice(2, "1.0.0+0")},
			signer: ecdsaKey, images: malformedDepSet(false), fast: u},
		{sc: scenario{name: "offset-dep-malformed-2img", strategy: SwapOffset, images: 2, setup: stage(false), steps: twice(2, "1.0.0+0")},
			signer: ecdsaKey, images: malformedDepSet(false), fast: s},
		{sc: scenario{name: "xip-dep-malformed-2img", strategy: DirectXIP, images: 2, setup: bothSlots(false, false), steps: twice(2, "1.0.0+0", "2.0.0+0")},
			signer: ecdsaKey, images: malformedDepSet(false), fast: m},
		{sc: scenario{name: "ram-load-dep-malformed-2img", strategy: RAMLoad, images: 2, setup: bothSlots(false, false), steps: twice(2, "1.0.0+0", "2.0.0+0")},
			signer: ecdsaKey, images: malformedDepSet(true), fast: u},
		// Image 0 has no slot to boot: MCUboot stops there, so image 1's
		// tampered secondary is not looked at (not erased), and in the
		// swap modes image 1's counter is not raised.
		{sc: scenario{name: "xip-no-slot-2img", strategy: DirectXIP, images: 2, setup: noSlotForImage0, steps: []step{noBootStep(), noBootStep()}},
			signer: ecdsaKey, images: xipSet(2), fast: s},
		{sc: scenario{name: "ram-load-no-slot-2img", strategy: RAMLoad, images: 2, setup: noSlotForImage0, steps: []step{noBootStep(), noBootStep()}},
			signer: ecdsaKey, images: ramSet(2, nil, ecdsaKey, false), fast: m},
		{sc: scenario{name: "scratch-no-image-0-2img", strategy: SwapScratch, images: 2, setup: badPrimary0, steps: []step{noBootStep(), noBootStep()}},
			signer: ecdsaKey, images: xipSet(2), fast: u},
		{sc: scenario{name: "ram-load-2img", strategy: RAMLoad, images: 2, setup: bothSlots(false, false), steps: twice(2, "2.0.0+0")},
			signer: ecdsaKey, images: ramSet(2, nil, ecdsaKey, false), fast: u},
		{sc: scenario{name: "ram-load-tampered-2img", strategy: RAMLoad, images: 2, setup: tamperSecondary, steps: []step{bootStep("1.0.0+0", "2.0.0+0"), bootStep("1.0.0+0", "2.0.0+0")}},
			signer: ecdsaKey, images: ramSet(2, nil, ecdsaKey, false)},
	}
}

// TestMCUbootDifferentialModes runs modeCases on Rampart and MCUboot, cut
// before every operation: in the fast subset each case on one
// configuration, with -sweep=full on every layout, alignment and erased
// value.
func TestMCUbootDifferentialModes(t *testing.T) {
	full := *sweepFlag == "full"
	chains := 2
	if full {
		chains = 20
	}
	var counts diffCounts
	for _, c := range sweepConfigs(true) {
		for _, mc := range modeCases() {
			where := fmt.Sprintf("%s/align%d/erased%02x", c.ls.name, c.align, c.erased)
			if !full && where != mc.fast {
				continue
			}
			t.Run(where+"/"+mc.sc.name, func(t *testing.T) {
				parallelScenario(t)
				cfg := c.ls.config(mc.sc.strategy, c.align, c.erased, mc.sc.images)
				cfg.EncryptedImages = mc.dec != nil
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				dec := mc.dec
				if dec == nil {
					dec = encKey
				}
				or := newOracleRigDec(t, cfg, mc.signer, dec)
				runDifferential(t, or, mc.sc, mc.images(t, cfg), chains, &counts)
			})
		}
	}
	// After the parallel scenarios.
	t.Cleanup(func() {
		t.Logf("sweep=%s: %d scenario runs, %d cut points, %s, %s",
			*sweepFlag, counts.scenarios, counts.cutPoints, counts.bootsLine(), agreement(t))
	})
}

// rsaKeys are MCUboot's RSA-2048 test keys from image/testdata: the
// signing key and the device's RSA-OAEP decrypt key.
var rsaKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	var out [2]*rsa.PrivateKey
	for i, f := range []string{"rsa-2048.pem", "enc/enc-rsa2048-priv.pem"} {
		b, err := os.ReadFile(filepath.Join("..", "image", "testdata", "mcuboot", f))
		if err != nil {
			panic(err)
		}
		k, err := image.ParseKeyPEM(b)
		if err != nil {
			panic(err)
		}
		out[i] = k.(*rsa.PrivateKey)
	}
	return out[0], out[1]
})

// encImageBits signs with key and encrypts for dec's public half with
// AES-bits (imgtool --encrypt-keylen); it returns the image as shipped and
// its plaintext form.
func encImageBits(t testing.TB, ver string, secCnt uint32, size int, seed uint64, dec any, key crypto.Signer, bits int) (wire, plain []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	fw := make([]byte, size)
	for i := range fw {
		fw[i] = byte(r.Uint32())
	}
	v, err := image.ParseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	o := &image.SignOptions{Key: key, HeaderSize: 32, PadHeader: true, Version: v, SecurityCounter: &secCnt,
		EncryptKeyLen: bits, Rand: rand.NewChaCha8([32]byte{byte(seed), 0x25})}
	switch k := dec.(type) {
	case *ecdsa.PrivateKey:
		o.EncryptKey = &k.PublicKey
	case *rsa.PrivateKey:
		o.EncryptKey = &k.PublicKey
	}
	res, err := image.Sign(fw, o)
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Parse(res.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	region, err := img.Decrypt(dec)
	if err != nil {
		t.Fatal(err)
	}
	return res.Bytes, append(region, res.Bytes[len(region):img.Size()]...)
}

// TestMCUbootDifferentialEncryptedMbedTLS3 compares RSA-OAEP key exchange
// and AES-256 bodies with MCUboot built on its mbedTLS backend, which needs
// mbedTLS 3 (RAMPART_MBEDTLS3, docs/boot.md §10b; skipped without it): the
// encrypted swap-move, swap-scratch and overwrite scenarios, cut at every
// operation.
func TestMCUbootDifferentialEncryptedMbedTLS3(t *testing.T) {
	rsaSign, rsaDec := rsaKeys()
	for _, kx := range []struct {
		name   string
		dec    any
		signer crypto.Signer
		bits   int
	}{{"rsa-oaep", rsaDec, rsaSign, 128}, {"ecies-p256-aes256", encKey, ecdsaKey, 256}, {"rsa-oaep-aes256", rsaDec, rsaSign, 256}} {
		_, v1p := encImageBits(t, "1.0.0", 1, 5000, 13, kx.dec, kx.signer, kx.bits)
		v2w, _ := encImageBits(t, "2.0.0", 2, 6000, 23, kx.dec, kx.signer, kx.bits)
		scs := append(encScenarios(), scenario{name: "scratch-enc-test-revert-1img", strategy: SwapScratch, images: 1, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0"), bootStep("1.0.0+0")}})
		runEncDiff(t, encDiff{what: kx.name, prefix: kx.name + "/", dec: kx.dec, signer: kx.signer, bits: kx.bits, scs: scs, chains: [2]int{1, 10},
			im: &imageSet{old: [][]byte{v1p}, new: [][]byte{v2w}},
			// The fast subset: a test and revert with swap-move, one
			// configuration, per key exchange.
			fast: func(ci, si int) bool { return ci == 1 && si == 0 }})
	}
}
