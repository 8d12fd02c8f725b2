//go:build !race

package cmsis

const raceEnabled = false
