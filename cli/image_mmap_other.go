//go:build !(linux || darwin || freebsd)

package cli

import "os"

// imageMapFile is not available on this platform: files are read.
func imageMapFile(*os.File, int64) ([]byte, bool) { return nil, false }
