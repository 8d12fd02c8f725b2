package psaclient_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rampart/psa"
	"rampart/psaclient"
	"rampart/spe"
	specrypto "rampart/spe/crypto"
)

// startSPE runs an SPE with the crypto service on a Unix socket and returns
// a client connected to it over that socket.
func startSPE(t *testing.T) *psaclient.Client {
	t.Helper()
	svc, err := specrypto.New(specrypto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := spe.New(spe.Options{Identify: func(int, int) (int32, error) { return -1, nil }})
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "psa")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "spe.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Shutdown(); os.RemoveAll(dir) })
	c, err := psaclient.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSignerTLSHandshake: crypto/tls on both ends of a loopback TCP
// connection; the server's certificate key lives only in the SPE.
func TestSignerTLSHandshake(t *testing.T) {
	c := startSPE(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		gen  func() (psa.KeyID, error)
		max  uint16
	}{
		{"ECDSA P-256", func() (psa.KeyID, error) {
			return c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 256, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)})
		}, tls.VersionTLS13},
		{"ECDSA P-384 TLS 1.2", func() (psa.KeyID, error) {
			return c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: 384, Usage: psa.UsageSignHash, Algorithm: psa.AlgECDSA(psa.AlgAnyHash)})
		}, tls.VersionTLS12},
		{"Ed25519", func() (psa.KeyID, error) {
			return c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilyTwistedEdwards), Bits: 255, Usage: psa.UsageSignMessage, Algorithm: psa.AlgPureEdDSA})
		}, tls.VersionTLS13},
		{"RSA-PSS", func() (psa.KeyID, error) {
			return c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Usage: psa.UsageSignHash, Algorithm: psa.AlgRSAPSS(psa.AlgAnyHash)}, x509.MarshalPKCS1PrivateKey(rsaKey))
		}, tls.VersionTLS13},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.gen()
			if err != nil {
				t.Fatal(err)
			}
			signer, err := psaclient.NewSigner(c, id)
			if err != nil {
				t.Fatal(err)
			}
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device"},
				DNSNames: []string{"device.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			if tc.name == "RSA-PSS" {
				// The key's policy permits PSS only; the default PKCS#1 v1.5
				// certificate signature would be refused by the SPE.
				tmpl.SignatureAlgorithm = x509.SHA256WithRSAPSS
			}
			// The certificate itself is signed by the SPE-held key too.
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
			if err != nil {
				t.Fatal(err)
			}
			cert, _ := x509.ParseCertificate(der)
			pool := x509.NewCertPool()
			pool.AddCert(cert)

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			srvErr := make(chan error, 1)
			go func() {
				conn, err := ln.Accept()
				if err != nil {
					srvErr <- err
					return
				}
				defer conn.Close()
				s := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer}}, MaxVersion: tc.max})
				if err := s.Handshake(); err != nil {
					srvErr <- err
					return
				}
				_, err = io.Copy(s, io.LimitReader(s, 5))
				srvErr <- err
			}()
			conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "device.test", MaxVersion: tc.max})
			if err != nil {
				t.Fatalf("handshake: %v (server: %v)", err, <-srvErr)
			}
			defer conn.Close()
			if conn.ConnectionState().Version != tc.max {
				t.Errorf("negotiated 0x%x", conn.ConnectionState().Version)
			}
			conn.Write([]byte("hello"))
			buf := make([]byte, 5)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("echo: %q %v", buf, err)
			}
			if err := <-srvErr; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSignerNilOptions: go-cose (and other callers) pass nil options;
// crypto.Signer leaves the hash to the key then. Sign used to panic on
// opts.HashFunc(). Now a digest of the key's hash is signed, and what
// cannot be known is refused with an error.
func TestSignerNilOptions(t *testing.T) {
	c := startSPE(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecc := func(bits int, alg psa.Algorithm) func() (psa.KeyID, error) {
		return func() (psa.KeyID, error) {
			return c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilySECPR1), Bits: bits, Usage: psa.UsageSignHash, Algorithm: alg})
		}
	}
	rsaWith := func(alg psa.Algorithm) func() (psa.KeyID, error) {
		return func() (psa.KeyID, error) {
			return c.ImportKey(psa.KeyAttributes{Type: psa.KeyTypeRSAKeyPair, Usage: psa.UsageSignHash, Algorithm: alg}, x509.MarshalPKCS1PrivateKey(rsaKey))
		}
	}
	msg := []byte("job payload")
	s256, s384 := sha256.Sum256(msg), sha512.Sum384(msg)
	cases := []struct {
		name    string
		gen     func() (psa.KeyID, error)
		digest  []byte
		hash    crypto.Hash
		refused bool
	}{
		{"P-256 any hash", ecc(256, psa.AlgECDSA(psa.AlgAnyHash)), s256[:], crypto.SHA256, false},
		{"P-384 any hash", ecc(384, psa.AlgECDSA(psa.AlgAnyHash)), s384[:], crypto.SHA384, false},
		{"P-256 SHA-384 policy", ecc(256, psa.AlgECDSA(psa.AlgSHA384)), s384[:], crypto.SHA384, false},
		{"P-256 digest of another hash", ecc(256, psa.AlgECDSA(psa.AlgAnyHash)), s384[:], 0, true},
		{"RSA PKCS#1 SHA-256 policy", rsaWith(psa.AlgRSAPKCS1v15Sign(psa.AlgSHA256)), s256[:], crypto.SHA256, false},
		{"RSA-PSS SHA-256 policy", rsaWith(psa.AlgRSAPSS(psa.AlgSHA256)), s256[:], crypto.SHA256, false},
		{"RSA any hash", rsaWith(psa.AlgRSAPKCS1v15Sign(psa.AlgAnyHash)), s256[:], 0, true},
		{"Ed25519", func() (psa.KeyID, error) {
			return c.GenerateKey(psa.KeyAttributes{Type: psa.KeyTypeECCKeyPair(psa.ECCFamilyTwistedEdwards), Bits: 255, Usage: psa.UsageSignMessage, Algorithm: psa.AlgPureEdDSA})
		}, msg, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.gen()
			if err != nil {
				t.Fatal(err)
			}
			signer, err := psaclient.NewSigner(c, id)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := signer.Sign(nil, tc.digest, nil)
			if tc.refused {
				if !errors.Is(err, psa.ErrInvalidArgument) {
					t.Fatalf("Sign with nil options: %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ok bool
			switch pub := signer.Public().(type) {
			case *ecdsa.PublicKey:
				ok = ecdsa.VerifyASN1(pub, tc.digest, sig)
			case *rsa.PublicKey:
				if tc.name == "RSA-PSS SHA-256 policy" {
					ok = rsa.VerifyPSS(pub, tc.hash, tc.digest, sig, nil) == nil
				} else {
					ok = rsa.VerifyPKCS1v15(pub, tc.hash, tc.digest, sig) == nil
				}
			case ed25519.PublicKey:
				ok = ed25519.Verify(pub, msg, sig)
			}
			if !ok {
				t.Fatal("signature does not verify")
			}
		})
	}
}
