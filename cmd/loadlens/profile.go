//go:build pprof

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// A profiling build (go build -tags pprof) with LOADLENS_PROFILE_DIR set
// writes, for every loadlens process, a CPU profile of its main (package
// initialisation comes before it: GODEBUG=inittrace=1 shows that) to
// COMMAND-PID.pprof in that folder: bench/runners -profile keeps those of a
// distributed run's coordinator and runners apart. Regular builds have
// none of this.
func init() {
	dir := os.Getenv("LOADLENS_PROFILE_DIR")
	if dir == "" {
		return
	}
	command := "loadlens"
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", command, os.Getpid()))
	f, err := os.Create(base + ".pprof")
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadlens: profile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "loadlens: profile:", err)
		_ = f.Close()
		return
	}
	stopProfile = func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}
