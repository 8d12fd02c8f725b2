package boot

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"rampart/flash"
	"rampart/image"
)

// encKey is the device's decrypt key (ECIES-P256); its public half
// encrypts the test images.
var encKey = func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{2}))
	if err != nil {
		panic(err)
	}
	return k
}()

// x25519Key is a device decrypt key for ECIES-X25519.
var x25519Key = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey(seed("rampart x25519 decrypt key"))
	if err != nil {
		panic(err)
	}
	return k
}()

// encImage is a signed image and, when encrypted, its plaintext form.
type encImage struct {
	wire  []byte // as shipped: body encrypted when enc
	plain []byte // the same image with the body decrypted (what the primary slot holds)
	size  int
}

// makeEncImage signs a deterministic body; enc encrypts it for encKey.
func makeEncImage(t testing.TB, ver string, secCnt uint32, size int, seed uint64, enc bool) encImage {
	t.Helper()
	return makeEncImageKey(t, ver, secCnt, size, seed, enc, testKey)
}

// makeEncImageKey is makeEncImage signed with key.
func makeEncImageKey(t testing.TB, ver string, secCnt uint32, size int, seed uint64, enc bool, key crypto.Signer) encImage {
	t.Helper()
	var dec any
	if enc {
		dec = encKey
	}
	return makeEncImageFor(t, ver, secCnt, size, seed, dec, key)
}

// makeEncImageFor signs with key and, when dec is not nil, encrypts for
// dec's public half (P-256: ECIES-P256, X25519: ECIES-X25519).
func makeEncImageFor(t testing.TB, ver string, secCnt uint32, size int, seed uint64, dec any, key crypto.Signer) encImage {
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
		Rand: rand.NewChaCha8([32]byte{byte(seed)})}
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
	out := encImage{wire: res.Bytes, plain: res.Bytes, size: len(res.Bytes)}
	if dec != nil {
		img, err := image.Parse(res.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		region, err := img.Decrypt(dec)
		if err != nil {
			t.Fatal(err)
		}
		out.plain = append(region, img.Bytes()[len(region):img.Size()]...)
		if bytes.Equal(out.plain, out.wire) {
			t.Fatal("encrypted image equals its plaintext")
		}
	}
	return out
}

// encConfig is a one-image flash map with encrypted images.
func encConfig(strategy Strategy, align int, erased byte) *Config {
	c := layouts[0].config(strategy, align, erased, 1)
	c.EncryptedImages = true
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func newEncRig(t testing.TB, cfg *Config) *rig {
	r := newRig(t, cfg)
	r.bl.SetDecryptKey(encKey)
	return r
}

// TestEncryptedTrailerLayout: with encrypted_images the trailer holds two
// key fields of BOOT_ENC_KEY_ALIGN_SIZE below swap_size, and the swap
// status moves down by them.
func TestEncryptedTrailerLayout(t *testing.T) {
	plain := layouts[0].config(SwapMove, 8, 0xff, 1)
	enc := encConfig(SwapMove, 8, 0xff)
	lp, _ := plain.layout()
	le, _ := enc.layout()
	s := le.images[0].primary
	if got, want := le.trailerSize()-lp.trailerSize(), 2*16; got != want {
		t.Errorf("trailer grows by %d bytes, want %d", got, want)
	}
	if got, want := le.encKeyOff(s.size, 0), le.swapSizeOff(s.size)-16; got != want {
		t.Errorf("key 0 at %#x, want %#x", got, want)
	}
	if got, want := le.encKeyOff(s.size, 1), le.swapSizeOff(s.size)-32; got != want {
		t.Errorf("key 1 at %#x, want %#x", got, want)
	}
	if le.encKeyOff(s.size, 1) != le.statusOff(s.size)+uint32(le.statusSize()) {
		t.Error("the swap status does not end where the key fields start")
	}
}

// TestEncryptedUpgrade installs an encrypted image from the secondary slot
// with each strategy: the primary then holds the plaintext image, which
// boots; with swap-move an unconfirmed test reverts, and the secondary
// slot holds the new image encrypted again, byte for byte as shipped.
func TestEncryptedUpgrade(t *testing.T) {
	for _, strategy := range []Strategy{SwapMove, OverwriteOnly} {
		for _, erased := range []byte{0xff, 0x00} {
			t.Run(fmt.Sprintf("%s/erased%02x", strategy, erased), func(t *testing.T) {
				cfg := encConfig(strategy, 8, erased)
				r := newEncRig(t, cfg)
				v1 := makeEncImage(t, "1.0.0", 1, 9000, 1, true)
				v2 := makeEncImage(t, "2.0.0", 2, 11000, 2, true)
				r.install(0, Primary, v1.plain)
				r.install(0, Secondary, v2.wire)
				r.request(0, false)
				res := r.boot()
				if !res.Images[0].Booted || res.Images[0].Version != "2.0.0+0" {
					t.Fatalf("booted %+v\n%s", res.Images[0], notes(res))
				}
				if got := r.slotBytes(0, Primary, v2.size); !bytes.Equal(got, v2.plain) {
					t.Fatal("the primary slot does not hold the decrypted image")
				}
				if strategy == OverwriteOnly {
					return
				}
				if got := r.slotBytes(0, Secondary, v1.size); !bytes.Equal(got, v1.wire) {
					t.Fatal("the old image was not encrypted again into the secondary slot")
				}
				res = r.boot() // not confirmed: revert
				if res.Images[0].Version != "1.0.0+0" {
					t.Fatalf("after the revert booted %s\n%s", res.Images[0].Version, notes(res))
				}
				if got := r.slotBytes(0, Primary, v1.size); !bytes.Equal(got, v1.plain) {
					t.Fatal("the primary slot does not hold the old image in plaintext after the revert")
				}
				if got := r.slotBytes(0, Secondary, v2.size); !bytes.Equal(got, v2.wire) {
					t.Fatal("the secondary slot does not hold the new image as shipped after the revert")
				}
			})
		}
	}
}

// TestEncryptedRefused: a tampered encrypted image, one for another
// device's key and one with no decrypt key provisioned are refused and
// erased; the old image boots.
func TestEncryptedRefused(t *testing.T) {
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{3}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		key    any
		tamper func([]byte)
		want   error
	}{
		{"tampered-body", encKey, func(b []byte) { b[4000] ^= 1 }, ErrInvalidImage},
		{"tampered-key-tlv", encKey, func(b []byte) { b[len(b)-20] ^= 1 }, ErrInvalidImage},
		{"wrong-device-key", other, nil, ErrInvalidImage},
		{"no-decrypt-key", nil, nil, ErrEncryptedImage},
	} {
		for _, strategy := range []Strategy{SwapMove, OverwriteOnly} {
			t.Run(string(strategy)+"/"+tc.name, func(t *testing.T) {
				r := newRig(t, encConfig(strategy, 8, 0xff))
				r.bl.SetDecryptKey(tc.key)
				v1 := makeEncImage(t, "1.0.0", 1, 9000, 1, false)
				v2 := makeEncImage(t, "2.0.0", 2, 11000, 2, true)
				w := append([]byte(nil), v2.wire...)
				if tc.tamper != nil {
					tc.tamper(w)
				}
				r.install(0, Primary, v1.plain)
				r.install(0, Secondary, w)
				r.request(0, true)
				im := r.bl.l.images[0]
				if _, err := r.bl.validate(w, 0, im.maxImageSize(r.bl.l), true); !errors.Is(err, tc.want) {
					t.Fatalf("validate: %v, want %v", err, tc.want)
				}
				res := r.boot()
				if res.Images[0].Version != "1.0.0+0" {
					t.Fatalf("booted %s\n%s", res.Images[0].Version, notes(res))
				}
				sec := make([]byte, im.secondary.size)
				if err := r.dev.Read(im.secondary.off, sec); err != nil {
					t.Fatal(err)
				}
				if !allEqual(sec, 0xff) {
					t.Fatalf("the refused image was not erased\n%s", notes(res))
				}
			})
		}
	}
}

// TestEncryptedPowerCut cuts the power before every flash operation of an
// encrypted upgrade (and, for swap-move, of the revert after it), then
// reboots: every device boots the image it should, with the primary slot in
// plaintext and the secondary as it should be.
func TestEncryptedPowerCut(t *testing.T) {
	for _, strategy := range []Strategy{SwapMove, OverwriteOnly} {
		for _, erased := range []byte{0xff, 0x00} {
			t.Run(fmt.Sprintf("%s/erased%02x", strategy, erased), func(t *testing.T) {
				cfg := encConfig(strategy, 8, erased)
				v1 := makeEncImage(t, "1.0.0", 1, 9000, 1, true)
				v2 := makeEncImage(t, "2.0.0", 2, 11000, 2, true)
				base := newEncRig(t, cfg)
				base.install(0, Primary, v1.plain)
				base.install(0, Secondary, v2.wire)
				base.request(0, false)
				snap := base.dev.Clone()
				phases := []struct {
					want     string
					pri, sec []byte
					checkSec bool
				}{{"2.0.0+0", v2.plain, v1.wire, strategy == SwapMove}}
				if strategy == SwapMove {
					phases = append(phases, struct {
						want     string
						pri, sec []byte
						checkSec bool
					}{"1.0.0+0", v1.plain, v2.wire, true})
				}
				r := newEncRig(t, cfg)
				for p, ph := range phases {
					// The number of operations of this phase, uncut.
					r.dev.CopyFrom(snap)
					for range p {
						r.boot()
					}
					start := r.dev.Clone()
					r.dev.SetFault(nil)
					r.boot()
					total := r.dev.Ops()
					for cut := 1; cut <= total; cut++ {
						r.dev.CopyFrom(start)
						r.dev.SetFault(&flash.Fault{CutBefore: cut})
						if _, err := r.bl.Boot(); !errors.Is(err, flash.ErrPowerCut) {
							t.Fatalf("phase %d cut %d: %v", p, cut, err)
						}
						r.dev.PowerOn()
						res := r.boot()
						if res.Images[0].Version != ph.want {
							t.Fatalf("phase %d cut %d of %d: booted %s\n%s", p, cut, total, res.Images[0].Version, notes(res))
						}
						if !bytes.Equal(r.slotBytes(0, Primary, len(ph.pri)), ph.pri) {
							t.Fatalf("phase %d cut %d: the primary slot does not hold the plaintext image", p, cut)
						}
						if ph.checkSec && !bytes.Equal(r.slotBytes(0, Secondary, len(ph.sec)), ph.sec) {
							t.Fatalf("phase %d cut %d: the secondary slot does not hold the encrypted image", p, cut)
						}
					}
				}
			})
		}
	}
}

// TestDeviceDecryptKey: the decrypt key provisioned in a device directory
// is kept 0600 and given to the bootloader when the directory is opened.
func TestDeviceDecryptKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	d, err := CreateDevice(dir, encConfig(SwapMove, 8, 0xff), []any{testKey.Public()}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ProvisionDecryptKey(encKey); err != nil {
		t.Fatal(err)
	}
	d.Close()
	fi, err := os.Stat(filepath.Join(dir, DeviceDecryptKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("decrypt key mode %v, want 0600", fi.Mode().Perm())
	}
	d, err = OpenDevice(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v1 := makeEncImage(t, "1.0.0", 1, 9000, 1, false)
	v2 := makeEncImage(t, "2.0.0", 2, 11000, 2, true)
	if err := d.Boot.Install(0, Primary, v1.plain); err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.Install(0, Secondary, v2.wire); err != nil {
		t.Fatal(err)
	}
	if err := d.Boot.RequestUpgrade(0, true); err != nil {
		t.Fatal(err)
	}
	res, err := d.Boot.Boot()
	if err != nil || res.Images[0].Version != "2.0.0+0" {
		t.Fatalf("boot: %v\n%s", err, notes(res))
	}
}

// encScenarios are the encrypted differential scenarios: the primary holds
// v1 in plaintext (as an encrypted v1 was installed), the secondary v2
// encrypted; a test upgrade that reverts (v1 encrypted again on its way
// back), a permanent one, an overwrite and a tampered ciphertext.
func encScenarios() []scenario {
	tampered := func(r *rig, im *imageSet) {
		factory(r, im)
		bad := bytes.Clone(im.new[0])
		bad[3000] ^= 0x40
		r.install(0, Secondary, bad)
		r.request(0, false)
	}
	return []scenario{
		{name: "swap-enc-test-revert-1img", strategy: SwapMove, images: 1, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		{name: "swap-enc-perm-1img", strategy: SwapMove, images: 1, setup: stage(true),
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		{name: "overwrite-enc-1img", strategy: OverwriteOnly, images: 1, setup: stage(false),
			steps: []step{bootStep("2.0.0+0"), bootStep("2.0.0+0")}},
		{name: "swap-enc-tampered-1img", strategy: SwapMove, images: 1, setup: tampered,
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
		{name: "overwrite-enc-tampered-1img", strategy: OverwriteOnly, images: 1, setup: tampered,
			steps: []step{bootStep("1.0.0+0"), bootStep("1.0.0+0")}},
	}
}

// TestMCUbootDifferentialEncrypted runs the encrypted scenarios on Rampart
// and on MCUboot built with MCUBOOT_ENC_IMAGES and MCUBOOT_ENCRYPT_EC256,
// over identical flash, cut before every operation: the same decisions,
// operations and bytes (docs/boot.md §10b). The fast subset is one layout;
// -sweep=full runs every layout, alignment and erased value.
func TestMCUbootDifferentialEncrypted(t *testing.T) {
	v1 := makeEncImageKey(t, "1.0.0", 1, 5000, 11, true, ecdsaKey)
	v2 := makeEncImageKey(t, "2.0.0", 2, 6000, 21, true, ecdsaKey)
	runEncDiff(t, encDiff{what: "encrypted", dec: encKey, signer: ecdsaKey, scs: encScenarios(), chains: [2]int{2, 20},
		im: &imageSet{old: [][]byte{v1.plain}, new: [][]byte{v2.wire}},
		// The fast subset: every scenario on one configuration (two
		// MCUboot builds, shared with the imgtool test).
		fast: func(ci, _ int) bool { return ci == 1 }})
}

// encDiff is one key exchange of the encrypted differential sweeps.
type encDiff struct {
	what   string // for the log
	prefix string // of the subtests' names
	dec    any    // the device's decrypt key
	signer crypto.Signer
	bits   int // AES key size: 128 (0) or 256
	im     *imageSet
	scs    []scenario
	chains [2]int                // random chains of cuts: fast, full
	fast   func(ci, si int) bool // the fast subset: sweepConfigs index, scenario index
}

// runEncDiff runs d's scenarios on every sweep configuration (with
// -sweep=full; otherwise d.fast's) on Rampart and MCUboot built for d's key
// exchange, cut before every operation.
func runEncDiff(t *testing.T, d encDiff) {
	t.Helper()
	full := *sweepFlag == "full"
	chains := d.chains[0]
	if full {
		chains = d.chains[1]
	}
	var counts diffCounts
	for ci, c := range sweepConfigs(true) {
		for si, sc := range d.scs {
			if !full && !d.fast(ci, si) {
				continue
			}
			name := fmt.Sprintf("%s%s/align%d/erased%02x/%s", d.prefix, c.ls.name, c.align, c.erased, sc.name)
			t.Run(name, func(t *testing.T) {
				parallelScenario(t)
				cfg := c.ls.config(sc.strategy, c.align, c.erased, sc.images)
				cfg.EncryptedImages = true
				if d.bits == 256 {
					cfg.EncryptedKeyBits = 256
				}
				if err := cfg.Validate(); err != nil {
					t.Fatal(err)
				}
				or := newOracleRigDec(t, cfg, d.signer, d.dec)
				runDifferential(t, or, sc, d.im, chains, &counts)
				checkKXMemo(t, or, sc)
			})
		}
	}
	// After the parallel scenarios.
	t.Cleanup(func() {
		t.Logf("sweep=%s: %d %s scenario runs, %d cut points, %s, %s",
			*sweepFlag, counts.scenarios, d.what, counts.cutPoints, counts.bootsLine(), agreement(t))
	})
}

// TestMCUbootDifferentialImgtoolEncrypted runs the encrypted scenarios with
// images signed and encrypted (--encrypt with the device's P-256 public
// key: ECIES-P256, AES-128) by MCUboot's own imgtool (RAMPART_IMGTOOL):
// both bootloaders decrypt and boot them, agreeing at every cut.
func TestMCUbootDifferentialImgtoolEncrypted(t *testing.T) {
	tool := os.Getenv("RAMPART_IMGTOOL")
	if tool == "" {
		t.Skip("RAMPART_IMGTOOL is not set (path to MCUboot's scripts/imgtool.py): imgtool-encrypted differential skipped; see docs/imgtool-interop.md")
	}
	py := os.Getenv("RAMPART_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signPEM, err := image.MarshalPrivateKeyPEM(ecdsaKey)
	if err != nil {
		t.Fatal(err)
	}
	encPEM, err := image.MarshalPublicKeyPEM(&encKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, encFile := write("key.pem", signPEM), write("enc-pub.pem", encPEM)
	sign := func(ver string, secCnt uint32, size int, seed uint64) encImage {
		body := make([]byte, size)
		r := rand.New(rand.NewPCG(seed, 7))
		for i := range body {
			body[i] = byte(r.Uint32())
		}
		in, out := write("in.bin", body), filepath.Join(dir, "out.bin")
		cmd := exec.Command(py, tool, "sign", "--key", keyFile, "--encrypt", encFile, "--header-size", "32", "--pad-header",
			"--align", "8", "--max-align", "8", "--version", ver, "--security-counter", fmt.Sprint(secCnt),
			"--slot-size", "32768", in, out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("imgtool sign --encrypt: %v\n%s", err, b)
		}
		wire, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := image.Parse(wire)
		if err != nil {
			t.Fatal(err)
		}
		if !img.Header.Flags.Encrypted() {
			t.Fatal("imgtool did not encrypt")
		}
		region, err := img.Decrypt(encKey)
		if err != nil {
			t.Fatal(err)
		}
		return encImage{wire: wire, plain: append(region, wire[len(region):img.Size()]...), size: img.Size()}
	}
	v1, v2 := sign("1.0.0", 1, 5000, 1), sign("2.0.0", 2, 6000, 2)
	im := &imageSet{old: [][]byte{v1.plain}, new: [][]byte{v2.wire}}
	var counts diffCounts
	for _, sc := range encScenarios() {
		cfg := layouts[0].config(sc.strategy, 8, 0xff, 1)
		cfg.EncryptedImages = true
		t.Run(sc.name, func(t *testing.T) {
			runDifferential(t, newOracleRig(t, cfg, ecdsaKey), sc, im, 1, &counts)
		})
	}
	t.Logf("imgtool-encrypted: %d scenario runs, %d cut points, %d boots (Rampart and MCUboot), %s", counts.scenarios, counts.cutPoints, counts.boots, agreement(t))
}

// TestMCUbootDifferentialEncryptedX25519 is TestMCUbootDifferentialEncrypted
// with ECIES-X25519 key exchange: MCUboot built with MCUBOOT_ENCRYPT_X25519
// (fiat's curve25519) and, as imgtool pairs X25519 with them, Ed25519
// signatures; the device's X25519 key provisioned in both.
func TestMCUbootDifferentialEncryptedX25519(t *testing.T) {
	v1 := makeEncImageFor(t, "1.0.0", 1, 5000, 11, x25519Key, testKey)
	v2 := makeEncImageFor(t, "2.0.0", 2, 6000, 21, x25519Key, testKey)
	runEncDiff(t, encDiff{what: "X25519-encrypted", dec: x25519Key, signer: testKey, scs: encScenarios(), chains: [2]int{1, 20},
		im: &imageSet{old: [][]byte{v1.plain}, new: [][]byte{v2.wire}},
		// The fast subset: the test and revert (decrypting and
		// encrypting again), one MCUboot build.
		fast: func(ci, si int) bool { return ci == 2 && si == 0 }})
}

// kwKey is the device's AES-KW key-encryption key (MCUBOOT_ENCRYPT_KW).
var kwKey = []byte("rampart-kw-key16")

// TestMCUbootDifferentialEncryptedKW is TestMCUbootDifferentialEncrypted
// with AES key wrap (TLV 0x31): MCUboot built with MCUBOOT_ENCRYPT_KW, the
// same 16-byte key-encryption key in both. imgtool cannot make such images
// (it has no AES-KW), so Rampart's signer wraps the key.
func TestMCUbootDifferentialEncryptedKW(t *testing.T) {
	v1 := makeEncImageFor(t, "1.0.0", 1, 5000, 12, kwKey, ecdsaKey)
	v2 := makeEncImageFor(t, "2.0.0", 2, 6000, 22, kwKey, ecdsaKey)
	runEncDiff(t, encDiff{what: "AES-KW-encrypted", dec: kwKey, signer: ecdsaKey, scs: encScenarios(), chains: [2]int{1, 20},
		im:   &imageSet{old: [][]byte{v1.plain}, new: [][]byte{v2.wire}},
		fast: func(ci, si int) bool { return ci == 0 && si == 0 }})
}

// checkKXMemo: after a test-and-revert scenario (several boots that load
// the same body key), MCUboot's ECDH ran at least once for real and was
// answered from the key-exchange memo at least once (-oracle.kxmemo); the
// differential comparison that preceded shows the answers were MCUboot's.
func checkKXMemo(t *testing.T, or *oracleRig, sc scenario) {
	t.Helper()
	if !or.ocfg.KXMemo || sc.name != encScenarios()[0].name {
		return
	}
	if hits, misses := or.o.KXMemoStats(); hits == 0 || misses == 0 {
		t.Errorf("key-exchange memo: %d answers from the memo, %d ECDH run; want both above zero", hits, misses)
	}
}
