package deviceproto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rampart/attest"
	"rampart/swcomponent"
)

var update = flag.Bool("update", false, "regenerate testdata/enroll-request.json")

// vector is a real enrollment request kept in testdata (made with -update).
type vector struct {
	CSR         []byte `json:"csr"`
	ServerNonce []byte `json:"server_nonce"`
	Token       []byte `json:"token"`
	IAKPublic   string `json:"iak_public_key"`
}

func loadVector(t testing.TB) vector {
	path := filepath.Join("testdata", "enroll-request.json")
	if *update {
		iak, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		dk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := NewCSR(dk, rand.Reader, "")
		nonce := bytes.Repeat([]byte{0x42}, NonceLen)
		b, _ := Binding(nonce, &dk.PublicKey)
		tok, err := attest.Sign(&attest.Claims{Nonce: b, ImplementationID: bytes.Repeat([]byte{0x11}, 32), ClientID: -1, Lifecycle: attest.LifecycleSecured,
			SoftwareComponents: []swcomponent.Component{{MeasurementType: "SPE", MeasurementValue: bytes.Repeat([]byte{1}, 32), SignerID: bytes.Repeat([]byte{2}, 32), Version: "1.2.3"}}}, iak, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := attest.MarshalPublicKeyPEM(&iak.PublicKey)
		j, _ := json.MarshalIndent(vector{csr, nonce, tok, string(pub)}, "", "  ")
		os.WriteFile(path, append(j, '\n'), 0o644)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRequestRoundTrip(t *testing.T) {
	v := loadVector(t)
	r, err := ParseRequest(EncodeRequest(v.CSR, v.ServerNonce, v.Token))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.CSR.Raw, v.CSR) || !bytes.Equal(r.ServerNonce, v.ServerNonce) || !bytes.Equal(r.Token, v.Token) {
		t.Fatal("round trip changed the request")
	}
	// The vector's token binds its nonce and CSR key, and verifies.
	b, _ := Binding(v.ServerNonce, r.CSR.PublicKey)
	pub, _ := attest.ParsePublicKeyPEM([]byte(v.IAKPublic))
	if _, err := attest.Verify(v.Token, attest.VerifyOptions{Key: pub, Nonce: b}); err != nil {
		t.Fatalf("vector token: %v", err)
	}
	// Line-wrapped base64 (as EST servers and clients send) is accepted.
	raw := EncodeRequest(v.CSR, v.ServerNonce, v.Token)
	var wrapped strings.Builder
	for i, c := range string(raw.Body) {
		if i > 0 && i%64 == 0 {
			wrapped.WriteString("\r\n")
		}
		wrapped.WriteRune(c)
	}
	raw.Body = []byte(wrapped.String())
	if _, err := ParseRequest(raw); err != nil {
		t.Fatalf("wrapped body: %v", err)
	}
}

func TestBindingDefinition(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	n := bytes.Repeat([]byte{7}, NonceLen)
	want := sha256.Sum256(append(append([]byte{}, n...), spki...))
	got, err := Binding(n, &k.PublicKey)
	if err != nil || !bytes.Equal(got, want[:]) {
		t.Fatalf("Binding = %x, want SHA-256(nonce || SPKI) = %x", got, want)
	}
}

func TestRequestTruncation(t *testing.T) {
	v := loadVector(t)
	raw := EncodeRequest(v.CSR, v.ServerNonce, v.Token)
	for i := range len(v.CSR) {
		r := raw
		r.Body = []byte(base64.StdEncoding.EncodeToString(v.CSR[:i]))
		if _, err := ParseRequest(r); !errors.Is(err, ErrRequest) {
			t.Fatalf("CSR prefix of %d bytes: %v", i, err)
		}
	}
	for i := range len(raw.Body) {
		r := raw
		r.Body = raw.Body[:i]
		if _, err := ParseRequest(r); !errors.Is(err, ErrRequest) {
			t.Fatalf("body prefix of %d characters: %v", i, err)
		}
	}
	for i := range len(v.ServerNonce) {
		r := raw
		r.Nonce = base64.StdEncoding.EncodeToString(v.ServerNonce[:i])
		if _, err := ParseRequest(r); !errors.Is(err, ErrRequest) {
			t.Fatalf("nonce prefix of %d bytes: %v", i, err)
		}
	}
}

func TestRequestHostile(t *testing.T) {
	v := loadVector(t)
	good := EncodeRequest(v.CSR, v.ServerNonce, v.Token)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaCSR, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, rk)
	badSig := append([]byte(nil), v.CSR...)
	badSig[len(badSig)-3] ^= 0x55
	cases := map[string]func(*RawRequest){
		"content type":      func(r *RawRequest) { r.ContentType = "application/json" },
		"transfer encoding": func(r *RawRequest) { r.TransferEncoding = "binary" },
		"oversized body":    func(r *RawRequest) { r.Body = bytes.Repeat([]byte("A"), MaxBodySize+1) },
		"not base64":        func(r *RawRequest) { r.Body = []byte("!!!!") },
		"trailing garbage": func(r *RawRequest) {
			r.Body = []byte(base64.StdEncoding.EncodeToString(append(append([]byte{}, v.CSR...), 0)))
		},
		"rsa key":             func(r *RawRequest) { r.Body = []byte(base64.StdEncoding.EncodeToString(rsaCSR)) },
		"csr signature":       func(r *RawRequest) { r.Body = []byte(base64.StdEncoding.EncodeToString(badSig)) },
		"missing nonce":       func(r *RawRequest) { r.Nonce = "" },
		"long nonce":          func(r *RawRequest) { r.Nonce = base64.StdEncoding.EncodeToString(make([]byte, 33)) },
		"missing token":       func(r *RawRequest) { r.Token = "" },
		"token not base64":    func(r *RawRequest) { r.Token = "@@@@" },
		"oversized token":     func(r *RawRequest) { r.Token = strings.Repeat("A", maxTokenB64Size+4) },
		"token just too long": func(r *RawRequest) { r.Token = base64.StdEncoding.EncodeToString(make([]byte, attest.MaxTokenSize+1)) },
	}
	for name, mutate := range cases {
		r := good
		mutate(&r)
		if _, err := ParseRequest(r); !errors.Is(err, ErrRequest) {
			t.Errorf("%s: %v, want ErrRequest", name, err)
		}
	}
}

// decodeB64 takes line-wrapped and unwrapped input alike.
func TestDecodeB64Whitespace(t *testing.T) {
	for _, in := range []string{"AQIDBA==", "AQID\r\nBA==", " AQ ID\tBA==\n"} {
		b, err := decodeB64(in, 8)
		if err != nil || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
			t.Errorf("%q: %x, %v", in, b, err)
		}
	}
	if _, err := decodeB64("AQIDBA==", 3); err == nil {
		t.Error("4 bytes accepted with a maximum of 3")
	}
}

func FuzzParseRequest(f *testing.F) {
	v := loadVector(f)
	raw := EncodeRequest(v.CSR, v.ServerNonce, v.Token)
	f.Add(raw.Body, raw.Nonce, raw.Token)
	f.Add(raw.Body[:len(raw.Body)/2], raw.Nonce, raw.Token[:10])
	f.Add([]byte(base64.StdEncoding.EncodeToString(v.CSR[:40])), "", "")
	f.Fuzz(func(t *testing.T, body []byte, nonce, token string) {
		r, err := ParseRequest(RawRequest{ContentType: "application/pkcs10", Body: body, Nonce: nonce, Token: token})
		if err != nil {
			if !errors.Is(err, ErrRequest) {
				t.Fatalf("error %v does not wrap ErrRequest", err)
			}
			return
		}
		if len(r.ServerNonce) != NonceLen || len(r.Token) == 0 || len(r.Token) > attest.MaxTokenSize || r.CSR.CheckSignature() != nil {
			t.Fatalf("accepted an invalid request: %+v", r)
		}
		// Whatever parses re-encodes and parses to the same request.
		r2, err := ParseRequest(EncodeRequest(r.CSR.Raw, r.ServerNonce, r.Token))
		if err != nil || !bytes.Equal(r2.CSR.Raw, r.CSR.Raw) || !bytes.Equal(r2.Token, r.Token) {
			t.Fatalf("re-encoded request: %v", err)
		}
	})
}
