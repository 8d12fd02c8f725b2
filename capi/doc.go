// Package capi builds libpsa-rampart, the PSA Certified C APIs (Crypto 1.0,
// Secure Storage ITS and PS, Initial Attestation) as a client of Rampart's
// SPE, and installs it with its headers and a pkg-config file. The library's
// code is the cgo package rampart/capi/libpsa; the headers, written from the
// PSA specifications, are capi/include.
//
// capi only compiles and copies: it must never hold keys or speak to an SPE,
// and the headers it installs must never be copied from another PSA
// implementation (docs/psa-c-api.md).
package capi
