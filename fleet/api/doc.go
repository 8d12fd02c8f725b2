// Package api is the fleet server's admin API: HTTP/JSON under /api/v1,
// described by the OpenAPI document it serves at /api/v1/openapi.json,
// guarded by bearer tokens with roles (viewer < operator < admin). It lists
// and changes device lifecycles, imports signed endorsements, registers
// releases, runs campaigns, and queries the audit log and telemetry. Its
// request and reply bodies are package adminapi's types (the public
// contract, with the document and the Go client); convert.go turns store
// rows and campaign summaries into them.
//
// It must never store or log a token in clear (only SHA-256 digests are
// configured and compared), never act before checking the caller's role,
// and every refused or state-changing call goes to the audit log. It never
// answers with a store row or an engine value as it is: a schema change
// must not change the API.
package api
