// Package tlsconf is the one TLS policy of the fleet server's listeners
// (enrollment, admin, MQTT): TLS 1.3, or TLS 1.2 with an ECDHE key exchange
// and an AEAD cipher (AES-GCM, ChaCha20-Poly1305) only. Go's defaults for a
// TLS 1.2 server still include the CBC suites with HMAC-SHA1 (and SHA-256),
// which have no forward-secure AEAD and a history of padding-oracle attacks;
// every listener builds its configuration here so none can drift.
//
// It must never allow a protocol version below TLS 1.2, a suite without
// ECDHE, or a suite without AEAD.
package tlsconf

import "crypto/tls"

// CipherSuites are the TLS 1.2 suites the listeners accept, strongest
// first (the RSA ones serve an operator who brings an RSA certificate; the
// fleet's own server key is ECDSA P-256). TLS 1.3 suites are not
// configurable in Go and are all AEAD.
var CipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Server returns a server configuration with the policy and the given
// certificates; callers add what is specific to them (client
// authentication, verification hooks).
func Server(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: CipherSuites,
		Certificates: certs,
	}
}
