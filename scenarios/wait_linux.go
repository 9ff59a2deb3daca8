package scenarios

import (
	"syscall"
	"time"
)

// canSleepPrecisely reports whether time.Now is the kernel's real-time
// clock. Inside a testing/synctest bubble it is a fake clock starting in
// 2000, which a kernel sleep would never advance.
func canSleepPrecisely() bool {
	var tv syscall.Timeval
	if err := syscall.Gettimeofday(&tv); err != nil {
		return false
	}
	diff := time.Duration(time.Now().UnixNano() - tv.Nano())
	return diff.Abs() < time.Second
}

// sleepPrecisely blocks the calling thread in nanosleep for about d. An
// interrupted sleep returns early; the pacer checks the clock again.
func sleepPrecisely(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil)
}
