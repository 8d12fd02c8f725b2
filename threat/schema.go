package threat

import _ "embed"

//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the model format, for
// editors. It covers structure and allowed values; [Check] adds references,
// cycles and coverage.
func Schema() []byte { return append([]byte(nil), schemaJSON...) }
