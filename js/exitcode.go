package js

import (
	"errors"

	"github.com/loadlens/loadlens/loadtest"
)

// k6's exit codes.
const (
	ExitPassed          = 0   // the run passed
	ExitThresholds      = 99  // thresholds crossed
	ExitInvalidConfig   = 104 // bad options, thresholds, scenarios or test file
	ExitExternalAbort   = 105 // stopped from outside (Ctrl-C, SIGTERM, the caller's context, a lost generator)
	ExitScriptException = 107 // an exception in the script's init code or setup
	ExitScriptAborted   = 108 // exec.test.abort()
	ExitMarkedFailed    = 110 // exec.test.fail()
	ExitGenericError    = 255 // anything else
)

// ExitCode is the code `k6 run` exits with for a run's outcome, where res
// and err are what loading the script or [loadtest.Run] returned.
func ExitCode(res loadtest.Result, err error) int {
	switch {
	case errors.Is(err, loadtest.ErrTestAborted):
		return ExitScriptAborted
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return ExitInvalidConfig
	case errors.Is(err, ErrScript), errors.Is(err, loadtest.ErrSetup):
		return ExitScriptException
	case err != nil:
		return ExitGenericError
	}
	if res.Abort != nil {
		switch res.Abort.By {
		case loadtest.AbortByCaller, loadtest.AbortByGenerator:
			return ExitExternalAbort
		case loadtest.AbortBySetup:
			return ExitScriptException
		case loadtest.AbortByScript:
			return ExitScriptAborted
		}
	}
	switch res.Status {
	case loadtest.StatusThresholdsFailed:
		return ExitThresholds
	case loadtest.StatusMarkedFailed:
		return ExitMarkedFailed
	case loadtest.StatusErrored:
		return ExitGenericError
	}
	return ExitPassed
}
