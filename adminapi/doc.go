// Package adminapi is the fleet server's admin API as its clients see it:
// every request and reply body of /api/v1 as a Go type with its JSON
// tags, the error body, the query parameters (filters and limits), the
// OpenAPI 3.1 document that describes them (openapi.json, checked against
// these types by TestOpenAPIMatchesTypes) and a Go client (Client).
//
// These types are the public contract: the server (fleet/api) converts its
// store rows and campaign summaries to them at the handler boundary, and
// the CLI, the simulator and the demo use only them, so that a change of
// the database schema or of the campaign engine does not change the API.
// Changing a field here changes the wire format; the server's golden
// replies (fleet/api/testdata/wire.golden) show it.
//
// It must never import a fleet server package (fleet/*): the server
// depends on the contract, not the reverse. The client must never send a
// token anywhere but the configured server, and treats every reply as
// hostile (bounded reads, errors that quote at most the server's message).
package adminapi
