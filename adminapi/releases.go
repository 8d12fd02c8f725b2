package adminapi

import "time"

// Release is a registered release (a reference value for attestation):
// GET /api/v1/releases lists them, POST /api/v1/releases answers one.
type Release struct {
	Digest   []byte    `json:"digest"`    // the image's measurement (base64 in JSON)
	SwType   string    `json:"sw_type"`   // measurement type, e.g. "SPE"
	Version  string    `json:"version"`   // "major.minor.revision"
	SignerID []byte    `json:"signer_id"` // hash of the signing key
	HashAlg  string    `json:"hash_alg"`  // "SHA256", ...
	Size     int64     `json:"size"`      // image size in bytes
	Created  time.Time `json:"created"`
	Comment  string    `json:"comment,omitempty"`
}

// ImageSHA256Header is the reply header of a release upload that names the
// stored image by its hex SHA-256 (servers with a campaign engine).
const ImageSHA256Header = "Rampart-Image-SHA256"

// SecurityCounterHeader is the reply header of a release upload that gives
// the image's security counter (decimal) as the server verified it, on
// servers with a campaign engine (it guards against rollback).
const SecurityCounterHeader = "Rampart-Security-Counter"
