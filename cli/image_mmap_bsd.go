//go:build darwin || freebsd

package cli

// imageMapPopulate is Linux's MAP_POPULATE; elsewhere pages are mapped as
// they are first read.
const imageMapPopulate = 0
