// Package netlimit bounds what one network source can take from the fleet
// server's listeners: request rates (token buckets), open connections, and
// how long a connection may stall a request or a response.
//
// A source is an IPv4 address or the /64 prefix of an IPv6 address (a single
// host is routinely given a whole /64, so keying IPv6 by address would hand
// one host 2^64 budgets). Every table it keeps is bounded: a flood from many
// sources degrades to one shared budget for the sources that do not fit, it
// never grows memory without limit.
//
// It must never block a source because of another source's traffic while
// its tables have room, never read request bodies itself, and never keep a
// connection it refused open past its accept.
package netlimit
