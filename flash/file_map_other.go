//go:build !unix

package flash

import (
	"errors"
	"os"
)

// MapThreshold: no mapping here (mappable is false), every device is
// held in memory.
const MapThreshold = 1 << 62

const headerAlign = 8

func mappable(int64, uint32) bool { return false }

func mapFile(*os.File, *Device, *fileBacking, int64) error {
	return errors.New("flash: mapping not supported")
}

func (b *fileBacking) unmap() error { return nil }
