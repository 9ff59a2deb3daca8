package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Program is the code a plan's VUs run: Go functions ([Funcs]), a request
// plan ([Target]), or a k6 script (package js).
type Program interface {
	// NewVU initialises the code of one VU — k6's init context. The engine
	// calls it once per VU, from several goroutines at once.
	NewVU(ctx context.Context, vu *VU) (VUCode, error)
}

// VUCode is one VU's initialised code.
type VUCode interface {
	// Run runs one iteration of the exec function named exec ("default"
	// unless the scenario names another). An error ends the iteration; it
	// still counts as complete, as a thrown exception does in k6, and is
	// counted in Result.IterationErrors.
	Run(ctx context.Context, exec string) error
}

// Setupper is an optional interface of a Program: Setup runs once before
// the scenarios (k6's setup()), on a VU of its own; what it returns is
// passed to every VU (VU.SetupData) and to Teardown.
type Setupper interface {
	Setup(ctx context.Context, vu *VU) (json.RawMessage, error)
}

// Teardowner is an optional interface of a Program: Teardown runs once
// after the scenarios (k6's teardown(data)).
type Teardowner interface {
	Teardown(ctx context.Context, vu *VU, data json.RawMessage) error
}

// ExecLister is an optional interface of a Program: it lists the exec
// functions it has, so that Plan.Validate can reject scenarios naming
// others.
type ExecLister interface {
	Execs() []string
}

// Funcs is a Program of Go functions by exec name. Scenarios that name no
// exec run Funcs["default"].
type Funcs map[string]func(ctx context.Context, vu *VU) error

var (
	_ Program    = Funcs(nil)
	_ ExecLister = Funcs(nil)
)

// NewVU implements Program.
func (f Funcs) NewVU(_ context.Context, vu *VU) (VUCode, error) { return funcsVU{f, vu}, nil }

// Execs implements ExecLister.
func (f Funcs) Execs() []string {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

type funcsVU struct {
	funcs Funcs
	vu    *VU
}

// Run runs one iteration. A panic ends it with an iteration error naming
// the panic and where it happened, as an exception does in a script: one
// bad iteration must not take the whole process (a go test binary) down.
func (f funcsVU) Run(ctx context.Context, exec string) (err error) {
	fn, ok := f.funcs[exec]
	if !ok {
		return fmt.Errorf("no exec function %q", exec)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v (%s)", p, panicSite())
			if f.vu.group != "" { // the panic left a group without leaving it
				f.vu.group = ""
				f.vu.regroup()
			}
		}
	}()
	return fn(ctx, f.vu)
}

// panicSite returns where the panic being recovered happened, file:line
// in function, called from the deferred function that recovers.
func panicSite() string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	panicking := false
	for {
		fr, more := frames.Next()
		switch {
		case fr.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(fr.Function, "runtime."):
			return fmt.Sprintf("%s:%d in %s", filepath.Base(fr.File), fr.Line, fr.Function)
		}
		if !more {
			return "unknown site"
		}
	}
}
