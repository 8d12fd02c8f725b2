package adminapi

import _ "embed"

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the admin API (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }
