package store

import (
	"encoding/json"
	"time"

	"rampart/swcomponent"
)

// releaseJSON is the JSON form of a release, which the admin API serves
// (GET /api/v1/releases, fleet/api/openapi.json): the column names, kept
// when the measurement fields became a swcomponent.Component.
type releaseJSON struct {
	Digest   []byte    `json:"digest"`    // measurement-value
	SwType   string    `json:"sw_type"`   // measurement-type
	Version  string    `json:"version"`   // "major.minor.revision"
	SignerID []byte    `json:"signer_id"` // signer-id
	HashAlg  string    `json:"hash_alg"`  // measurement-description
	Size     int64     `json:"size"`
	Created  time.Time `json:"created"`
	Comment  string    `json:"comment,omitempty"`
}

// MarshalJSON encodes r in the admin API's form.
func (r Release) MarshalJSON() ([]byte, error) {
	c := &r.Component
	return json.Marshal(releaseJSON{Digest: c.MeasurementValue, SwType: c.MeasurementType, Version: c.Version,
		SignerID: c.SignerID, HashAlg: c.MeasurementDescription, Size: r.Size, Created: r.Created, Comment: r.Comment})
}

// UnmarshalJSON decodes the admin API's form.
func (r *Release) UnmarshalJSON(b []byte) error {
	var j releaseJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Release{
		Component: swcomponent.Component{MeasurementType: j.SwType, MeasurementValue: j.Digest, Version: j.Version,
			SignerID: j.SignerID, MeasurementDescription: j.HashAlg},
		Size: j.Size, Created: j.Created, Comment: j.Comment,
	}
	return nil
}
