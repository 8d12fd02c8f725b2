package ca

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
)

// RFC 7030 returns certificates as a "certs-only" CMS SignedData (RFC 5652)
// with no signers and no content.

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

var emptySet = asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: []byte{}}

// CertsOnly encodes certs as a degenerate PKCS#7 / CMS SignedData.
func CertsOnly(certs ...*x509.Certificate) ([]byte, error) {
	if len(certs) == 0 {
		return nil, errors.New("ca: certs-only: no certificates")
	}
	var raw []byte
	for _, c := range certs {
		raw = append(raw, c.Raw...)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: emptySet,
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: raw},
		SignerInfos:      emptySet,
	}
	sd.ContentInfo.ContentType = oidData
	inner, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("ca: certs-only: %w", err)
	}
	return asn1.Marshal(contentInfo{ContentType: oidSignedData, Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}})
}

// ParseCertsOnly decodes a certs-only PKCS#7 and returns its certificates.
func ParseCertsOnly(der []byte) ([]*x509.Certificate, error) {
	var ci contentInfo
	rest, err := asn1.Unmarshal(der, &ci)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("ca: certs-only: bad ContentInfo (%v, %d trailing bytes)", err, len(rest))
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("ca: certs-only: content type %v is not signedData", ci.ContentType)
	}
	if ci.Content.Class != asn1.ClassContextSpecific || ci.Content.Tag != 0 || !ci.Content.IsCompound {
		return nil, errors.New("ca: certs-only: content is not [0] EXPLICIT")
	}
	var sd signedData
	rest, err = asn1.Unmarshal(ci.Content.Bytes, &sd)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("ca: certs-only: bad SignedData (%v)", err)
	}
	certs, err := x509.ParseCertificates(sd.Certificates.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: certs-only: certificates: %w", err)
	}
	if len(certs) == 0 {
		return nil, errors.New("ca: certs-only: no certificates")
	}
	return certs, nil
}
