package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Device certificates are issued at every enrollment. x509.CreateCertificate
// encodes the TBSCertificate through encoding/asn1's reflection, which cost
// as much CPU as the ECDSA signature itself; deviceTBS writes the same bytes
// directly. It covers exactly the device template of IssueDeviceDER (P-256
// CA key, ECDSA subject key, printable device ID) and reports ok=false for
// anything else, which then goes through CreateCertificate.
// TestDeviceTBSMatchesCreateCertificate and FuzzDeviceTBS check that the
// output equals CreateCertificate's byte for byte.

var (
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidOrganization    = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidCommonName      = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidExtKeyUsage     = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKeyUsage        = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidAuthorityKeyID  = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidClientAuth      = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
)

// deviceOrganization is the subject O of every device certificate.
const deviceOrganization = "Rampart fleet device"

// deviceTBS returns the DER TBSCertificate CreateCertificate would build for
// the device template (see IssueDeviceDER), or ok=false when the inputs are
// outside what it covers.
func (c *CA) deviceTBS(serial *big.Int, notBefore, notAfter time.Time, deviceID string, u *url.URL, pub crypto.PublicKey) (tbs []byte, ok bool, err error) {
	k, isECDSA := c.key.(*ecdsa.PrivateKey)
	if !isECDSA || k.Curve != elliptic.P256() || !printable(deviceID) {
		return nil, false, nil
	}
	if _, isECDSA := pub.(*ecdsa.PublicKey); !isECDSA {
		return nil, false, nil
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, false, fmt.Errorf("ca: issue: %w", err)
	}
	uri := u.String()
	for i := 0; i < len(uri); i++ {
		if uri[i] >= 0x80 { // not IA5: leave the error to CreateCertificate
			return nil, false, nil
		}
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 640)) // one allocation, no regrowth
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1BigInt(serial)
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
		b.AddBytes(c.cert.RawSubject)
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, notBefore)
			addTime(b, notAfter)
		})
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // Name: O, then CN (pkix.Name order)
			addRDN(b, oidOrganization, deviceOrganization)
			addRDN(b, oidCommonName, deviceID)
		})
		b.AddBytes(spki)
		b.AddASN1(casn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				// CreateCertificate's order: key usage, extended key
				// usage, authority key ID, subject alternative name.
				addExtension(b, oidKeyUsage, true, func(b *cryptobyte.Builder) {
					// digitalSignature: one bit, so 7 unused bits (03 02 07 80)
					b.AddASN1(casn1.BIT_STRING, func(b *cryptobyte.Builder) { b.AddBytes([]byte{7, 0x80}) })
				})
				addExtension(b, oidExtKeyUsage, false, func(b *cryptobyte.Builder) {
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidClientAuth) })
				})
				if len(c.cert.SubjectKeyId) > 0 {
					addExtension(b, oidAuthorityKeyID, false, func(b *cryptobyte.Builder) {
						b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1(casn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(c.cert.SubjectKeyId) })
						})
					})
				}
				addExtension(b, oidSubjectAltName, false, func(b *cryptobyte.Builder) {
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(casn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(uri)) })
					})
				})
			})
		})
	})
	tbs, err = b.Bytes()
	if err != nil {
		return nil, false, fmt.Errorf("ca: issue: %w", err)
	}
	return tbs, true, nil
}

// addTime writes t as encoding/asn1 does: UTCTime from 1950 to 2049,
// GeneralizedTime otherwise, whole seconds, "Z".
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC()
	if y := t.Year(); y >= 1950 && y < 2050 {
		b.AddASN1UTCTime(t)
		return
	}
	b.AddASN1GeneralizedTime(t)
}

// addRDN writes SET { SEQUENCE { oid, PrintableString v } }.
func addRDN(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, v string) {
	b.AddASN1(casn1.SET, func(b *cryptobyte.Builder) {
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oid)
			b.AddASN1(casn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
		})
	})
}

// addExtension writes Extension ::= SEQUENCE { extnID, critical DEFAULT
// FALSE (omitted when false, as DER requires), extnValue OCTET STRING }.
func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, critical bool, value func(*cryptobyte.Builder)) {
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(casn1.OCTET_STRING, value)
	})
}

// printable reports whether s is non-empty and in the PrintableString set
// encoding/asn1 uses for a Name attribute (no '*', no '&').
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
			'\'' <= b && b <= ')' || '+' <= b && b <= '/' || b == ' ' || b == ':' || b == '=' || b == '?') {
			return false
		}
	}
	return true
}
