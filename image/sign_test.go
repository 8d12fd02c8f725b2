package image

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func genKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(kt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func TestSignVerifyEveryKeyType(t *testing.T) {
	in := make([]byte, 3000)
	rand.Read(in)
	types := []KeyType{KeyECDSAP256, KeyECDSAP384, KeyEd25519, KeyRSA2048, KeyRSA3072}
	if testing.Short() {
		types = types[:4]
	}
	other := genKey(t, KeyEd25519)
	for _, kt := range types {
		k := genKey(t, kt)
		for _, full := range []PublicKeyFormat{KeyFormatHash, KeyFormatFull} {
			res, err := Sign(in, &SignOptions{Key: k, HeaderSize: 0x100, PadHeader: true, SlotSize: 0x4000, PublicKeyFormat: full, PadSig: kt == KeyECDSAP256})
			if err != nil {
				t.Fatalf("%s: %v", kt, err)
			}
			img, v, err := Verify(res.Bytes, other.Public(), k.Public())
			if err != nil {
				t.Fatalf("%s: %v", kt, err)
			}
			if !v.Signed || v.KeyIndex != 1 || v.Signature.Type != kt.SigTLV() {
				t.Fatalf("%s: %+v", kt, v)
			}
			if !bytes.Equal(img.Body(), in) || !bytes.Equal(v.Digest, res.Digest) {
				t.Fatalf("%s: body or digest differ", kt)
			}
			if _, _, err := Verify(res.Bytes, other.Public()); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("%s with another key: %v", kt, err)
			}
		}
	}
}

func TestSignHashChoices(t *testing.T) {
	// imgtool refuses --sha 512 with a P-256 private key (only external
	// signing with the public key may choose it).
	if _, err := Sign([]byte("x"), &SignOptions{Key: genKey(t, KeyECDSAP256), HashBits: 512, HeaderSize: 32, PadHeader: true}); err == nil {
		t.Fatal("P-256 private key with --sha 512 accepted")
	}
	in := []byte("firmware")
	ed := genKey(t, KeyEd25519)
	for _, c := range []struct {
		key  crypto.Signer
		bits int
		pure bool
		want Hash
	}{
		{nil, 0, false, SHA256}, {nil, 384, false, SHA384}, {ed, 512, false, SHA512}, {ed, 0, true, SHA512},
	} {
		res, err := Sign(in, &SignOptions{Key: c.key, HashBits: c.bits, Pure: c.pure, HeaderSize: 32, PadHeader: true})
		if err != nil {
			t.Fatal(err)
		}
		var keys []any
		if c.key != nil {
			keys = append(keys, c.key.Public())
		}
		_, v, err := Verify(res.Bytes, keys...)
		if err != nil || v.Hash != c.want || v.Pure != c.pure {
			t.Fatalf("%+v: %v %+v", c, err, v)
		}
	}
}

func TestEncryptRoundTrip(t *testing.T) {
	in := make([]byte, 1000) // not a multiple of 16: exercises the zero pad
	rand.Read(in)
	x := genKey(t, KeyEd25519)
	p256 := genKey(t, KeyECDSAP256)
	rsaK := genKey(t, KeyRSA2048)
	x25519, _ := GenerateKey(KeyX25519, nil)
	encP256, _ := GenerateKey(KeyECDSAP256, nil)
	encRSA, _ := GenerateKey(KeyRSA2048, nil)
	cases := []struct {
		name      string
		sign      crypto.Signer
		enc       any
		keyLen    int
		hmac      int
		wantTLV   uint16
		wantFlags Flags
	}{
		{"x25519", x, x25519, 128, 0, TLVEncX25519, FlagEncryptedAES128},
		{"x25519 aes256 sha512", x, x25519, 256, 512, TLVEncX25519SHA512, FlagEncryptedAES256},
		{"ec256", p256, encP256, 128, 0, TLVEncEC256, FlagEncryptedAES128},
		{"ec256 aes256", p256, encP256, 256, 0, TLVEncEC256, FlagEncryptedAES256},
		{"rsa", rsaK, encRSA, 128, 0, TLVEncRSA2048, FlagEncryptedAES128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Sign(in, &SignOptions{Key: c.sign, HeaderSize: 0x200, PadHeader: true, SlotSize: 0x8000,
				EncryptKey: publicOf(c.enc), EncryptKeyLen: c.keyLen, HMACBits: c.hmac, Pad: true})
			if err != nil {
				t.Fatal(err)
			}
			img, err := Parse(res.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if img.Header.Flags != c.wantFlags || img.Header.ImgSize%16 != 0 {
				t.Fatalf("flags %v size %d", img.Header.Flags.Names(), img.Header.ImgSize)
			}
			if len(img.Unprotected.Find(c.wantTLV)) != 1 {
				t.Fatalf("no TLV 0x%x", c.wantTLV)
			}
			if bytes.Contains(res.Bytes, in[:64]) {
				t.Fatal("plaintext visible in the encrypted image")
			}
			if _, err := img.Verify(VerifyOptions{Keys: []any{c.sign.Public()}}); !errors.Is(err, ErrEncrypted) {
				t.Fatalf("without decrypt key: %v", err)
			}
			v, err := img.Verify(VerifyOptions{Keys: []any{c.sign.Public()}, DecryptKey: c.enc})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(v.Plaintext[0x200:0x200+len(in)], in) {
				t.Fatal("decrypted body differs")
			}
			// BodyKey: the AES key that decrypts the body in place.
			key, err := img.BodyKey(c.enc)
			if err != nil || len(key) != c.keyLen/8 {
				t.Fatalf("BodyKey: %d bytes, %v", len(key), err)
			}
			body := bytes.Clone(img.Body())
			if err := aesCTR(key, body); err != nil || !bytes.Equal(body[:len(in)], in) {
				t.Fatalf("the body decrypted with BodyKey differs (%v)", err)
			}
			if _, err := img.BodyKey(nil); !errors.Is(err, ErrEncrypted) {
				t.Fatalf("BodyKey without a key: %v", err)
			}
			wrong, _ := GenerateKey(KeyTypeMust(c.enc), nil)
			if _, err := img.Verify(VerifyOptions{Keys: []any{c.sign.Public()}, DecryptKey: wrong}); !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrHashMismatch) {
				t.Fatalf("wrong decrypt key: %v", err)
			}
		})
	}
	// --clear: flags and key TLV, body in clear; verified with BodyInClear.
	res, err := Sign(in, &SignOptions{Key: x, HeaderSize: 32, PadHeader: true, EncryptKey: publicOf(x25519), Clear: true})
	if err != nil {
		t.Fatal(err)
	}
	if img, _ := Parse(res.Bytes); img == nil {
		t.Fatal("clear image does not parse")
	} else if plain, err := Sign(in, &SignOptions{Key: x, HeaderSize: 32, PadHeader: true}); err != nil {
		t.Fatal(err)
	} else if pimg, _ := Parse(plain.Bytes); pimg != nil {
		if _, err := pimg.BodyKey(x25519); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("BodyKey of an image that is not encrypted: %v", err)
		}
	}
	if img, v, err := Verify(res.Bytes); err == nil || !bytes.Contains(res.Bytes, in) {
		t.Fatalf("clear image: %v %v", err, v)
	} else if _, err := img.Verify(VerifyOptions{Keys: []any{x.Public()}, BodyInClear: true}); err != nil {
		t.Fatalf("clear image with BodyInClear: %v", err)
	}
	// imgtool's rule: ECDSA signing needs an ECDSA encryption key.
	if _, err := Sign(in, &SignOptions{Key: p256, HeaderSize: 32, PadHeader: true, EncryptKey: publicOf(x25519)}); err == nil {
		t.Fatal("P-256 signing with X25519 encryption accepted")
	}
	// HMAC-SHA512 only with X25519.
	if _, err := Sign(in, &SignOptions{Key: p256, HeaderSize: 32, PadHeader: true, EncryptKey: publicOf(encP256), HMACBits: 512}); err == nil {
		t.Fatal("ECIES-P256 with HMAC-SHA512 accepted")
	}
}

func KeyTypeMust(k any) KeyType {
	kt, err := KeyTypeOf(k)
	if err != nil {
		panic(err)
	}
	return kt
}

// TestDumpinfoFields checks the parsed model against every field of
// imgtool dumpinfo's YAML output.
func TestDumpinfoFields(t *testing.T) {
	for _, v := range vectorImages(t) {
		if v.dec != "" {
			continue // imgtool keeps no dumpinfo output for encrypted images
		}
		t.Run(v.file, func(t *testing.T) {
			yb := readVec(t, strings.TrimSuffix(v.file, ".bin")+".dumpinfo.yaml")
			var d struct {
				Header struct {
					Magic            uint32 `yaml:"magic"`
					LoadAddr         uint32 `yaml:"load_addr"`
					HdrSize          uint16 `yaml:"hdr_size"`
					ProtectedTLVSize uint16 `yaml:"protected_tlv_size"`
					ImgSize          uint32 `yaml:"img_size"`
					Flags            uint32 `yaml:"flags"`
					Version          string `yaml:"version"`
				} `yaml:"header"`
				TLVArea struct {
					HdrProt map[string]uint16 `yaml:"tlv_hdr_prot"`
					Prot    []dumpTLV         `yaml:"tlvs_prot"`
					Hdr     map[string]uint16 `yaml:"tlv_hdr"`
					TLVs    []dumpTLV         `yaml:"tlvs"`
				} `yaml:"tlv_area"`
				Trailer map[string]any `yaml:"trailer"`
			}
			if err := yaml.Unmarshal(yb, &d); err != nil {
				t.Fatal(err)
			}
			b := readVec(t, v.file)
			img, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			h := img.Header
			if d.Header.Magic != h.Magic || d.Header.LoadAddr != h.LoadAddr || d.Header.HdrSize != h.HdrSize ||
				d.Header.ProtectedTLVSize != h.ProtectTLVSize || d.Header.ImgSize != h.ImgSize ||
				d.Header.Flags != uint32(h.Flags) || d.Header.Version != h.Ver.String() {
				t.Fatalf("header: dumpinfo %+v, parsed %+v", d.Header, h)
			}
			checkArea := func(name string, hdr map[string]uint16, tlvs []dumpTLV, a *TLVArea) {
				if a == nil {
					if len(hdr) != 0 || len(tlvs) != 0 {
						t.Fatalf("%s: dumpinfo has %v, parsed none", name, hdr)
					}
					return
				}
				if hdr["magic"] != a.Magic || hdr["tlv_tot"] != a.TLVTot || len(tlvs) != len(a.TLVs) {
					t.Fatalf("%s: dumpinfo %v/%d TLVs, parsed 0x%x/%d/%d TLVs", name, hdr, len(tlvs), a.Magic, a.TLVTot, len(a.TLVs))
				}
				for i, e := range tlvs {
					g := a.TLVs[i]
					if e.Type != g.Type || e.TypeName != TLVName(g.Type) || e.Len != len(g.Value) || e.Data != string(g.Value) {
						t.Fatalf("%s TLV %d: dumpinfo %d %s len %d, parsed %v", name, i, e.Type, e.TypeName, e.Len, g)
					}
				}
			}
			checkArea("protected", d.TLVArea.HdrProt, d.TLVArea.Prot, img.Protected)
			checkArea("unprotected", d.TLVArea.Hdr, d.TLVArea.TLVs, img.Unprotected)
			if len(img.Tail()) == 0 {
				if len(d.Trailer) != 0 {
					t.Fatalf("dumpinfo has a trailer %v, image has no tail", d.Trailer)
				}
				return
			}
			tr, err := ParseTrailer(b)
			if err != nil || !tr.MagicValid {
				t.Fatalf("trailer: %v %+v", err, tr)
			}
			want := map[string]int{"image_ok": int(tr.ImageOK), "copy_done": int(tr.CopyDone), "swap_info": int(tr.SwapInfo), "swap_size": int(tr.SwapSize)}
			for k, w := range want {
				if g, ok := d.Trailer[k].(int); !ok || g != w {
					t.Errorf("trailer %s: dumpinfo %v, parsed %d", k, d.Trailer[k], w)
				}
			}
			if d.Trailer["magic"] != string(tr.Magic) {
				t.Errorf("trailer magic differs")
			}
		})
	}
}

type dumpTLV struct {
	Type     uint16 `yaml:"type"`
	TypeName string `yaml:"type_name"`
	Len      int    `yaml:"len"`
	Data     string `yaml:"data"`
}

func TestVectorKeyFiles(t *testing.T) {
	for _, k := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"} {
		key := keyVec(t, k+".pem")
		raw, err := PublicKeyBytes(key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, readVec(t, k+".pub.der")) {
			t.Errorf("%s: PublicKeyBytes differs from getpub -e raw", k)
		}
		kh, _ := KeyHash(key, SHA256)
		if !bytes.Equal(kh, readVec(t, k+".pubhash.bin")) {
			t.Errorf("%s: KeyHash differs from getpubhash", k)
		}
		pemb, _ := MarshalPublicKeyPEM(key)
		if !bytes.Equal(pemb, readVec(t, k+".pub.pem")) {
			t.Errorf("%s: public PEM differs from getpub -e pem", k)
		}
		pub := keyVec(t, k+".pub.pem")
		if kt, _ := KeyTypeOf(pub); kt.SigTLV() == 0 {
			t.Errorf("%s: public key type %v", k, kt)
		}
	}
	if _, err := ParseKeyPEM([]byte("not a key")); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage key: %v", err)
	}
	p224, _ := ecdsa.GenerateKey(ellipticP224(), rand.Reader)
	if _, err := KeyTypeOf(p224); !errors.Is(err, ErrUnsupported) {
		t.Errorf("P-224: %v", err)
	}
}

func TestSignToMatchesSign(t *testing.T) {
	in := readVec(t, "input.bin")
	for _, mod := range []func(o *SignOptions){
		func(o *SignOptions) {},
		func(o *SignOptions) { o.Pad, o.Confirm = true, true },
		func(o *SignOptions) { o.Pure = true },
		func(o *SignOptions) { o.PadHeader = false; o.HeaderSize = 32 },
	} {
		o := vecSignOptions(t, "ed25519.pem")
		mod(o)
		fw := in
		if !o.PadHeader {
			fw = append(make([]byte, 32), in...)
		}
		want, err := Sign(fw, o)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		res, err := SignTo(&buf, fw, o)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want.Bytes) || res.ImageSize != want.ImageSize {
			t.Fatalf("SignTo differs from Sign at %d", firstDiff(buf.Bytes(), want.Bytes))
		}
	}
}

// TestExternalSigning is imgtool's --vector-to-sign then --fix-sig flow:
// the signature made elsewhere over SigningVector's output gives the same
// image as signing directly (Ed25519 is deterministic).
func TestExternalSigning(t *testing.T) {
	in := readVec(t, "input.bin")
	key := keyVec(t, "ed25519.pem").(crypto.Signer)
	for _, pure := range []bool{false, true} {
		o := vecSignOptions(t, "")
		o.Pure = pure
		o.FixedSignatureKey = key.Public()
		payload, digest, err := SigningVector(in, o)
		if err != nil {
			t.Fatal(err)
		}
		msg := digest
		if pure {
			msg = payload
		}
		sig, _ := key.Sign(nil, msg, crypto.Hash(0))
		o.FixedSignature = sig
		got, err := Sign(in, o)
		if err != nil {
			t.Fatal(err)
		}
		want := readVec(t, "ed25519.signed.bin")
		if pure {
			want = readVec(t, "ed25519.pure.bin")
		}
		if !bytes.Equal(got.Bytes, want) {
			t.Fatalf("pure=%v: externally signed image differs from imgtool's", pure)
		}
		o.FixedSignature = make([]byte, 64)
		if _, err := Sign(in, o); err == nil || !strings.Contains(err.Error(), "fix-sig") {
			t.Fatalf("a bad fixed signature: %v", err)
		}
	}
	// ECDSA: the external signer signs SHA-256 of the payload.
	p256 := genKey(t, KeyECDSAP256)
	o := &SignOptions{HeaderSize: 32, PadHeader: true, FixedSignatureKey: p256.Public()}
	_, digest, err := SigningVector([]byte("fw"), o)
	if err != nil {
		t.Fatal(err)
	}
	o.FixedSignature, _ = p256.Sign(rand.Reader, digest, crypto.SHA256)
	res, err := Sign([]byte("fw"), o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Verify(res.Bytes, p256.Public()); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyWithKeyHashOnly is MCUboot's HW_KEY mode: the device keeps only
// the key's hash, the image carries the full key.
func TestVerifyWithKeyHashOnly(t *testing.T) {
	for _, f := range []string{"ed25519.fullkey.bin", "ecdsa-p256.fullkey.bin"} {
		b := readVec(t, f)
		img, _ := Parse(b)
		kh := readVec(t, strings.SplitN(f, ".", 2)[0]+".pubhash.bin")
		v, err := img.Verify(VerifyOptions{KeyHashes: [][]byte{make([]byte, 32), kh}})
		if err != nil || !v.Signed || v.KeyHashIndex != 1 || v.KeyIndex != -1 || v.Key == nil {
			t.Fatalf("%s: %v %+v", f, err, v)
		}
		other := bytes.Repeat([]byte{1}, 32)
		if _, err := img.Verify(VerifyOptions{KeyHashes: [][]byte{other}}); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("%s with another hash: %v", f, err)
		}
	}
	// a KEYHASH image cannot be verified from a key hash alone
	img, _ := Parse(readVec(t, "ed25519.signed.bin"))
	if _, err := img.Verify(VerifyOptions{KeyHashes: [][]byte{readVec(t, "ed25519.pubhash.bin")}}); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("KEYHASH image: %v", err)
	}
}

// TestEncryptKeyMayBePrivate: given the private half of the encryption
// key (as a key file often holds), Sign uses its public half.
func TestEncryptKeyMayBePrivate(t *testing.T) {
	in := make([]byte, 1000)
	rand.Read(in)
	sign := genKey(t, KeyEd25519)
	x25519, _ := GenerateKey(KeyX25519, nil)
	res, err := Sign(in, &SignOptions{Key: sign, HeaderSize: 0x200, PadHeader: true, EncryptKey: x25519})
	if err != nil {
		t.Fatal(err)
	}
	img, err := Parse(res.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	v, err := img.Verify(VerifyOptions{Keys: []any{sign.Public()}, DecryptKey: x25519})
	if err != nil || !bytes.Equal(v.Plaintext[0x200:0x200+len(in)], in) {
		t.Fatalf("does not decrypt: %v", err)
	}
}
