package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"

	"rampart/internal/spki"
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
	spkiDER, err := spki.Marshal(pub)
	if err != nil {
		return nil, false, fmt.Errorf("ca: issue: %w", err)
	}
	uri := u.String()
	for i := 0; i < len(uri); i++ {
		if uri[i] >= 0x80 { // not IA5: leave the error to CreateCertificate
			return nil, false, nil
		}
	}
	fixed, err := c.deviceFixed()
	if err != nil {
		return nil, false, err
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, 640)) // one allocation, no regrowth
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(fixedVersion)
		b.AddASN1BigInt(serial)
		b.AddBytes(fixed.algIssuer)
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, notBefore)
			addTime(b, notAfter)
		})
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { // Name: O, then CN (pkix.Name order)
			b.AddBytes(fixed.organization)
			addRDN(b, oidCommonName, deviceID)
		})
		b.AddBytes(spkiDER)
		b.AddASN1(casn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				// CreateCertificate's order: key usage, extended key
				// usage, authority key ID (fixed.extensions), subject
				// alternative name.
				b.AddBytes(fixed.extensions)
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

// fixedVersion is [0] EXPLICIT INTEGER 2 (v3).
var fixedVersion = []byte{0xa0, 0x03, 0x02, 0x01, 0x02}

// deviceFixedParts are the parts of every device TBSCertificate that do not
// change between certificates of one CA, encoded once: each nested element
// written through cryptobyte costs an allocation.
type deviceFixedParts struct {
	algIssuer    []byte // signature AlgorithmIdentifier, then the issuer Name
	organization []byte // the subject's O RDN
	extensions   []byte // key usage, extended key usage, authority key ID
}

// deviceFixed returns c's fixed parts, encoding them on first use.
func (c *CA) deviceFixed() (*deviceFixedParts, error) {
	c.fixedOnce.Do(func() {
		var f deviceFixedParts
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
		b.AddBytes(c.cert.RawSubject)
		if f.algIssuer, c.fixedErr = b.Bytes(); c.fixedErr != nil {
			return
		}
		b = cryptobyte.NewBuilder(nil)
		addRDN(b, oidOrganization, deviceOrganization)
		if f.organization, c.fixedErr = b.Bytes(); c.fixedErr != nil {
			return
		}
		b = cryptobyte.NewBuilder(nil)
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
		if f.extensions, c.fixedErr = b.Bytes(); c.fixedErr != nil {
			return
		}
		c.fixed = &f
	})
	if c.fixedErr != nil {
		return nil, fmt.Errorf("ca: issue: %w", c.fixedErr)
	}
	return c.fixed, nil
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
