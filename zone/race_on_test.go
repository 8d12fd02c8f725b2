//go:build race

package zone

// raceEnabled lets the long every-prefix tests stride under the race detector.
const raceEnabled = true
