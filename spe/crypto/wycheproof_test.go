package crypto

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"rampart/psa"
	"rampart/psaclient"
)

// Wycheproof vectors (testdata/, Apache-2.0, see testdata/README.md) run
// through the crypto service over its socket: every "valid" case must be
// accepted with the expected output, every "invalid" case refused.
// "acceptable" cases may go either way and are only counted.

type wpFile struct {
	Algorithm string            `json:"algorithm"`
	Groups    []json.RawMessage `json:"testGroups"`
}

type wpCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
	Key     string   `json:"key"`
	IV      string   `json:"iv"`
	AAD     string   `json:"aad"`
	Msg     string   `json:"msg"`
	CT      string   `json:"ct"`
	Tag     string   `json:"tag"`
	Sig     string   `json:"sig"`
	Public  string   `json:"public"`
	Private string   `json:"private"`
	Shared  string   `json:"shared"`
	IKM     string   `json:"ikm"`
	Salt    string   `json:"salt"`
	Info    string   `json:"info"`
	Size    int      `json:"size"`
	OKM     string   `json:"okm"`
	Label   string   `json:"label"`
}

type wpGroup struct {
	KeySize   int `json:"keySize"`
	IVSize    int `json:"ivSize"`
	TagSize   int `json:"tagSize"`
	PublicKey struct {
		Uncompressed string `json:"uncompressed"`
		PK           string `json:"pk"`
	} `json:"publicKey"`
	PublicKeyAsn    string   `json:"publicKeyAsn"`
	PrivateKeyPkcs8 string   `json:"privateKeyPkcs8"`
	Tests           []wpCase `json:"tests"`
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// wpTally counts agreement per file.
type wpTally struct {
	n, valid, invalid, accAccepted, accRejected int
	clientSide                                  int // refused before reaching the SPE (DER, SPKI parsing)
	failures                                    []string
}

func (w *wpTally) record(c wpCase, accepted bool, why string) {
	w.n++
	if !accepted && strings.HasPrefix(why, "client-side") {
		w.clientSide++
	}
	switch c.Result {
	case "valid":
		if accepted {
			w.valid++
		} else {
			w.failures = append(w.failures, "tc "+itoa(c.TcID)+" valid but refused: "+why)
		}
	case "invalid":
		if !accepted {
			w.invalid++
		} else {
			w.failures = append(w.failures, "tc "+itoa(c.TcID)+" invalid but accepted ("+strings.Join(c.Flags, ",")+")")
		}
	default:
		if accepted {
			w.accAccepted++
		} else {
			w.accRejected++
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func errStr(err error) string {
	if err == nil {
		return "wrong output"
	}
	return err.Error()
}

func TestWycheproof(t *testing.T) {
	e := startSPE(t, "", nil)
	files, _ := filepath.Glob(filepath.Join("testdata", "*_test.json"))
	if len(files) != 14 {
		t.Fatalf("found %d Wycheproof files in testdata, want 14", len(files))
	}
	runWycheproofFiles(t, e.dial(t), files)
}

// runWycheproofFiles runs every case of files through c.
func runWycheproofFiles(t *testing.T, c *psaclient.Client, files []string) {
	sort.Strings(files)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, "_test.json"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var file wpFile
			if err := json.Unmarshal(data, &file); err != nil {
				t.Fatal(err)
			}
			var w wpTally
			for _, raw := range file.Groups {
				var g wpGroup
				if err := json.Unmarshal(raw, &g); err != nil {
					t.Fatal(err)
				}
				for _, tc := range g.Tests {
					ok, why := runWycheproof(t, c, name, &g, tc)
					w.record(tc, ok, why)
				}
			}
			t.Logf("%s: %d cases: %d valid accepted, %d invalid refused, acceptable %d accepted / %d refused; %d refused by the client-side DER/SPKI parser",
				name, w.n, w.valid, w.invalid, w.accAccepted, w.accRejected, w.clientSide)
			if w.n == 0 {
				t.Fatal("no cases")
			}
			for i, f := range w.failures {
				if i == 20 {
					t.Errorf("... and %d more", len(w.failures)-20)
					break
				}
				t.Error(f)
			}
		})
	}
}

// withKey imports a key, runs f and destroys the key. An import refusal
// counts as the case being refused.
func withKey(t *testing.T, c *psaclient.Client, attr psa.KeyAttributes, material []byte, f func(psa.KeyID) (bool, string)) (bool, string) {
	id, err := c.ImportKey(attr, material)
	if err != nil {
		return false, "import: " + err.Error()
	}
	defer func() {
		if err := c.DestroyKey(id); err != nil {
			t.Errorf("destroy: %v", err)
		}
	}()
	return f(id)
}

func runWycheproof(t *testing.T, c *psaclient.Client, file string, g *wpGroup, tc wpCase) (bool, string) {
	both := psa.UsageEncrypt | psa.UsageDecrypt
	switch {
	case strings.HasPrefix(file, "aes_gcm"), strings.HasPrefix(file, "aes_ccm"), strings.HasPrefix(file, "chacha20"):
		base, typ := psa.AlgGCM, psa.KeyTypeAES
		if strings.HasPrefix(file, "aes_ccm") {
			base = psa.AlgCCM
		} else if strings.HasPrefix(file, "chacha20") {
			base, typ = psa.AlgChaCha20Poly1305, psa.KeyTypeChaCha20
		}
		alg := psa.AlgAEADWithShortenedTag(base, g.TagSize/8)
		if g.TagSize%8 != 0 || g.TagSize/8 > 16 {
			return false, "tag size"
		}
		iv, aad, msg := unhex(t, tc.IV), unhex(t, tc.AAD), unhex(t, tc.Msg)
		want := append(unhex(t, tc.CT), unhex(t, tc.Tag)...)
		return withKey(t, c, psa.KeyAttributes{Type: typ, Usage: both, Algorithm: alg}, unhex(t, tc.Key), func(id psa.KeyID) (bool, string) {
			pt, err := c.AEADDecrypt(id, alg, iv, aad, want)
			if err != nil || !bytes.Equal(pt, msg) {
				return false, "decrypt: " + errStr(err)
			}
			ct, err := c.AEADEncrypt(id, alg, iv, aad, msg)
			if err != nil || !bytes.Equal(ct, want) {
				return false, "encrypt: " + errStr(err)
			}
			return true, ""
		})
	case strings.HasPrefix(file, "aes_cmac"), strings.HasPrefix(file, "hmac"):
		alg, typ, full := psa.AlgCMAC, psa.KeyTypeAES, 16
		if strings.HasPrefix(file, "hmac") {
			alg, typ, full = psa.AlgHMAC(psa.AlgSHA256), psa.KeyTypeHMAC, 32
		}
		if g.TagSize/8 != full {
			alg = psa.AlgTruncatedMAC(alg, g.TagSize/8)
		}
		msg, tag := unhex(t, tc.Msg), unhex(t, tc.Tag)
		return withKey(t, c, psa.KeyAttributes{Type: typ, Usage: psa.UsageSignMessage | psa.UsageVerifyMessage, Algorithm: alg}, unhex(t, tc.Key), func(id psa.KeyID) (bool, string) {
			if err := c.MACVerify(id, alg, msg, tag); err != nil {
				return false, "verify: " + err.Error()
			}
			got, err := c.MACCompute(id, alg, msg)
			if err != nil || !bytes.Equal(got, tag) {
				return false, "compute: " + errStr(err)
			}
			return true, ""
		})
	case strings.HasPrefix(file, "ecdsa"), strings.HasPrefix(file, "ed25519"), strings.HasPrefix(file, "rsa_pss"):
		msg, sig := unhex(t, tc.Msg), unhex(t, tc.Sig)
		var attr psa.KeyAttributes
		var alg psa.Algorithm
		var pub []byte
		switch {
		case strings.HasPrefix(file, "ecdsa"):
			h, size := psa.AlgSHA256, 32
			if strings.Contains(file, "384") {
				h, size = psa.AlgSHA384, 48
			}
			alg = psa.AlgECDSA(h)
			attr.Type = psa.KeyTypeECCPublicKey(psa.ECCFamilySECPR1)
			pub = unhex(t, g.PublicKey.Uncompressed)
			if !strings.Contains(file, "p1363") {
				raw, err := psa.ECDSASignatureFromASN1(sig, size)
				if err != nil {
					return false, "client-side DER: " + err.Error()
				}
				sig = raw
			}
		case strings.HasPrefix(file, "ed25519"):
			alg, attr.Type, pub = psa.AlgPureEdDSA, psa.KeyTypeECCPublicKey(psa.ECCFamilyTwistedEdwards), unhex(t, g.PublicKey.PK)
		default:
			alg, attr.Type, pub = psa.AlgRSAPSS(psa.AlgSHA256), psa.KeyTypeRSAPublicKey, unhex(t, g.PublicKeyAsn)
		}
		attr.Usage, attr.Algorithm = psa.UsageVerifyMessage, alg
		return withKey(t, c, attr, pub, func(id psa.KeyID) (bool, string) {
			if err := c.VerifyMessage(id, alg, msg, sig); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	case strings.HasPrefix(file, "rsa_oaep"):
		k, err := x509.ParsePKCS8PrivateKey(unhex(t, g.PrivateKeyPkcs8))
		if err != nil {
			t.Fatal(err)
		}
		pair := x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))
		alg := psa.AlgRSAOAEP(psa.AlgSHA256)
		return withKey(t, c, psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Usage: psa.UsageDecrypt, Algorithm: alg}, pair, func(id psa.KeyID) (bool, string) {
			pt, err := c.AsymmetricDecrypt(id, alg, unhex(t, tc.CT), unhex(t, tc.Label))
			if err != nil || !bytes.Equal(pt, unhex(t, tc.Msg)) {
				return false, errStr(err)
			}
			return true, ""
		})
	case strings.HasPrefix(file, "ecdh"), strings.HasPrefix(file, "x25519"):
		var typ psa.KeyType
		var priv, peer []byte
		if strings.HasPrefix(file, "x25519") {
			typ, priv, peer = psa.KeyTypeECCKeyPair(psa.ECCFamilyMontgomery), unhex(t, tc.Private), unhex(t, tc.Public)
		} else {
			typ = psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1)
			priv = fixedScalar(unhex(t, tc.Private), 32)
			p, err := spkiP256Point(unhex(t, tc.Public))
			if err != nil {
				return false, "client-side SubjectPublicKeyInfo: " + err.Error()
			}
			peer = p
		}
		return withKey(t, c, psa.KeyAttributes{Type: typ, Usage: psa.UsageDerive, Algorithm: psa.AlgECDH}, priv, func(id psa.KeyID) (bool, string) {
			s, err := c.RawKeyAgreement(psa.AlgECDH, id, peer)
			if err != nil || !bytes.Equal(s, unhex(t, tc.Shared)) {
				return false, errStr(err)
			}
			return true, ""
		})
	case strings.HasPrefix(file, "hkdf"):
		alg := psa.AlgHKDF(psa.AlgSHA256)
		return withKey(t, c, psa.KeyAttributes{Type: psa.KeyTypeDerive, Usage: psa.UsageDerive, Algorithm: alg}, unhex(t, tc.IKM), func(id psa.KeyID) (bool, string) {
			out, err := c.DeriveBytes(id, alg, unhex(t, tc.Salt), unhex(t, tc.Info), tc.Size)
			if err != nil || !bytes.Equal(out, unhex(t, tc.OKM)) {
				return false, errStr(err)
			}
			return true, ""
		})
	}
	t.Fatalf("no runner for %s", file)
	return false, ""
}

// fixedScalar converts Wycheproof's big-endian integer (which may carry a
// sign byte or be short) to the fixed-size PSA private key format.
func fixedScalar(b []byte, size int) []byte {
	for len(b) > size && b[0] == 0 {
		b = b[1:]
	}
	if len(b) >= size {
		return b
	}
	return append(make([]byte, size-len(b)), b...)
}

var (
	oidECPublicKey = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01}
	oidP256        = []byte{0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
)

// spkiP256Point extracts the public point of a DER SubjectPublicKeyInfo
// naming P-256. The point itself is checked by the SPE, not here.
func spkiP256Point(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var spki, alg, algOID, curveOID cryptobyte.String
	var bits encasn1.BitString
	if !in.ReadASN1(&spki, asn1.SEQUENCE) || !in.Empty() ||
		!spki.ReadASN1(&alg, asn1.SEQUENCE) ||
		!alg.ReadASN1(&algOID, asn1.OBJECT_IDENTIFIER) || !bytes.Equal(algOID, oidECPublicKey) ||
		!alg.ReadASN1(&curveOID, asn1.OBJECT_IDENTIFIER) || !bytes.Equal(curveOID, oidP256) || !alg.Empty() ||
		!spki.ReadASN1BitString(&bits) || !spki.Empty() {
		return nil, errors.New("not a P-256 SubjectPublicKeyInfo with a named curve")
	}
	if bits.BitLength != 8*len(bits.Bytes) {
		return nil, errors.New("public key bit string is not byte aligned")
	}
	return bits.Bytes, nil
}
