package deviceproto

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// RFC 7030 returns certificates as a "certs-only" CMS SignedData (RFC 5652)
// with no signers and no content: the enrollment server's answer with the
// device's new certificate (PathSimpleEnroll, PathSimpleReenrol) and with
// the fleet CA (PathCACerts), base64 in the HTTP body.

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidData       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
)

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue // [0] EXPLICIT, built and checked by hand
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue // SET OF, empty
	ContentInfo      struct {
		ContentType asn1.ObjectIdentifier
	}
	Certificates asn1.RawValue `asn1:"tag:0"` // [0] IMPLICIT SET OF Certificate
	SignerInfos  asn1.RawValue // SET OF, empty
}

// CertsOnly encodes certs as a degenerate PKCS#7 / CMS SignedData.
func CertsOnly(certs ...*x509.Certificate) ([]byte, error) {
	ders := make([][]byte, len(certs))
	for i, c := range certs {
		ders[i] = c.Raw
	}
	return CertsOnlyDER(ders...)
}

// CertsOnlyDER is CertsOnly for certificates in DER: every enrollment
// answer is one, so it is written directly rather than through reflection.
//
//	ContentInfo ::= SEQUENCE { contentType signedData,
//	  content [0] EXPLICIT SignedData ::= SEQUENCE {
//	    version 1, digestAlgorithms SET {}, encapContentInfo SEQUENCE { data },
//	    certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} } }
func CertsOnlyDER(certs ...[]byte) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("deviceproto: certs-only: no certificates")
	}
	n := 64
	for _, c := range certs {
		n += len(c)
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, n)) // one allocation, no regrowth
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(casn1.SET, func(*cryptobyte.Builder) {})
				b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidData) })
				b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, c := range certs {
						b.AddBytes(c)
					}
				})
				b.AddASN1(casn1.SET, func(*cryptobyte.Builder) {})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("deviceproto: certs-only: %w", err)
	}
	return der, nil
}

// ParseCertsOnly decodes a certs-only PKCS#7 and returns its certificates.
func ParseCertsOnly(der []byte) ([]*x509.Certificate, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("deviceproto: certs-only: bad ContentInfo (%v, %d trailing bytes)", err, len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("deviceproto: certs-only: content type %v is not signedData", ci.ContentType)
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, errors.New("deviceproto: certs-only: content is not [0] EXPLICIT")
	}
	var sd signedData
	rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("deviceproto: certs-only: bad SignedData (%v)", err)
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("deviceproto: certs-only: certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("deviceproto: certs-only: no certificates")
	}
	return certs, nil
}
