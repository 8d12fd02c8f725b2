package deviceproto

import (
	"fmt"
	"net/http"
)

// Code is a machine-readable enrollment refusal reason, sent in the
// Rampart-Reason header and the JSON error body, and recorded in the audit log.
type Code string

// Refusal codes.
const (
	CodeOversized       Code = "oversized"         // body larger than MaxBodySize
	CodeMalformed       Code = "malformed-request" // encoding, CSR or header syntax
	CodeNonceUnknown    Code = "nonce-unknown"     // never issued, or expired
	CodeNonceReplayed   Code = "nonce-replayed"    // already used
	CodeMalformedToken  Code = "malformed-token"   // not a well-formed PSA token (CBOR/COSE/claims)
	CodeUnknownInstance Code = "unknown-instance"  // no endorsement for the instance ID
	CodeBadSignature    Code = "bad-signature"     // token not signed by the endorsed key
	CodeBinding         Code = "binding"           // token nonce != Binding(server nonce, CSR key)
	CodeLifecycle       Code = "lifecycle"         // PSA security lifecycle not trustworthy
	CodeEndorsement     Code = "endorsement"       // token contradicts its endorsement
	CodeDeviceState     Code = "device-state"      // suspended, decommissioned, or not enrolled (renewal)
	CodeUnknownFirmware Code = "unknown-firmware"  // a measurement matches no registered release
	CodeNoMeasurements  Code = "no-measurements"   // token carries no software measurements
	CodeInternal        Code = "internal"
)

// HTTPStatus is the HTTP status of a refusal with code c.
func (c Code) HTTPStatus() int {
	switch c {
	case CodeOversized:
		return http.StatusRequestEntityTooLarge
	case CodeMalformed, CodeMalformedToken:
		return http.StatusBadRequest
	case CodeInternal:
		return http.StatusInternalServerError
	}
	return http.StatusForbidden
}

// Refusal is a refused enrollment: a code and a human-readable detail.
type Refusal struct {
	Code   Code   `json:"error"`
	Detail string `json:"detail"`
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("deviceproto: enroll: refused (%s): %s", r.Code, r.Detail)
}

// Retryable reports whether a fresh attempt can cure a refusal with code
// c: an expired or reused nonce (the next attempt fetches a new one) or a
// failure on the server's side. Every other refusal is about the device
// (its token, its firmware, its state) and repeats until that changes.
func (c Code) Retryable() bool {
	switch c {
	case CodeNonceUnknown, CodeNonceReplayed, CodeInternal:
		return true
	}
	return false
}
