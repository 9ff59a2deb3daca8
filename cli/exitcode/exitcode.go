package exitcode

import (
	"errors"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// k6's exit codes.
const (
	Passed          = 0   // the run passed
	Thresholds      = 99  // thresholds crossed
	InvalidConfig   = 104 // bad options, thresholds, scenarios or test file
	ExternalAbort   = 105 // stopped from outside (Ctrl-C, SIGTERM, the caller's context, a lost generator)
	ScriptException = 107 // an exception in the script's init code or setup
	ScriptAborted   = 108 // exec.test.abort()
	MarkedFailed    = 110 // exec.test.fail()
	GenericError    = 255 // anything else
)

// Of is the code `k6 run` exits with for a run's outcome, where res and
// err are what loading the test or script or [loadtest.Run] returned.
func Of(res loadtest.Result, err error) int {
	switch {
	case errors.Is(err, loadtest.ErrTestAborted):
		return ScriptAborted
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return InvalidConfig
	case errors.Is(err, js.ErrScript), errors.Is(err, loadtest.ErrSetup):
		return ScriptException
	case err != nil:
		return GenericError
	}
	if res.Abort != nil {
		switch res.Abort.By {
		case loadtest.AbortByCaller, loadtest.AbortByGenerator:
			return ExternalAbort
		case loadtest.AbortBySetup:
			return ScriptException
		case loadtest.AbortByScript:
			return ScriptAborted
		}
	}
	switch res.Status {
	case loadtest.StatusThresholdsFailed:
		return Thresholds
	case loadtest.StatusMarkedFailed:
		return MarkedFailed
	case loadtest.StatusErrored:
		return GenericError
	}
	return Passed
}
