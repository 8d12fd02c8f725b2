// Package console is the fleet console: a web interface for operators,
// served by the fleet server on its admin listener under /ui/, its
// assets (plain JavaScript modules, CSS, hand-drawn SVG charts) embedded
// in the binary.
//
// A browser signs in with an admin-API token and gets a session cookie
// (HttpOnly, Secure, SameSite=Strict, __Host- prefixed, with an expiry);
// the token itself is never kept. Every call the pages make that reads or
// changes the fleet's state goes through the admin API's own handlers
// (/ui/api/v1/... is /api/v1/... with the session's principal), so the
// roles are checked by one function for both; the few views the API lacks
// (a paged device list, the overview, the live count of a campaign's
// targets, the event stream) check the same roles with api.Role.Allows.
//
// It must never accept a state-changing request without the session's
// CSRF token and a same-origin Origin (a refused one is audited), never
// store or log a token or a session identifier in clear, never load a
// resource from outside the server, and never answer with a store row as
// it is.
package console
