// Package ca is the fleet's certificate authority: it keeps the CA key
// encrypted at rest (scrypt-derived key, AES-256-GCM), issues short-lived
// device certificates for public keys that enrollment has already vetted,
// issues the server's own TLS certificate and the certificate of the fleet's
// job signer (the key that signs firmware-update jobs, with the download
// endpoints devices may use, and the role marks package deviceproto
// defines). The certs-only replies that carry its certificates are
// deviceproto's.
//
// It decides nothing about who deserves a certificate (fleet/enroll does) and
// it must never write the CA private key anywhere in plain form, nor return it.
package ca
