//go:build !linux

package scenarios

import "time"

// canSleepPrecisely is false where loadlens has no precise kernel sleep:
// the pacer uses runtime timers alone.
func canSleepPrecisely() bool { return false }

func sleepPrecisely(time.Duration) {}
