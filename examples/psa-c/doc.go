// Package psac holds the C example of libpsa-rampart (c/psa_example.c) and
// the test that builds it against the installed library with pkg-config and
// runs it against a live SPE. See README.md.
package psac
