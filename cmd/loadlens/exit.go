package main

import (
	"errors"

	"github.com/loadlens/loadlens/loadtest"
)

// Exit codes, as k6's.
const (
	exitOK              = 0
	exitThresholds      = 99  // thresholds crossed
	exitInvalidConfig   = 104 // bad options, thresholds, scenarios or test file
	exitExternalAbort   = 105 // Ctrl-C / SIGTERM
	exitScriptException = 107 // uncaught exception in init or setup
	exitScriptAborted   = 108 // exec.test.abort()
	exitMarkedFailed    = 110 // exec.test.fail()
	exitGenericError    = 255 // anything else
	exitUsage           = 2   // the command line itself is wrong
)

// exitCode maps a run's outcome to k6's exit code.
func exitCode(res loadtest.Result, err error) int {
	switch {
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return exitInvalidConfig
	case errors.Is(err, loadtest.ErrSetup), isScriptException(err):
		return exitScriptException
	case err != nil:
		return exitGenericError
	}
	if res.Abort != nil {
		switch res.Abort.By {
		case loadtest.AbortByCaller:
			return exitExternalAbort
		case loadtest.AbortByScript:
			return exitScriptAborted
		case loadtest.AbortBySetup:
			return exitScriptException
		}
	}
	switch res.Status {
	case loadtest.StatusThresholdsFailed:
		return exitThresholds
	case loadtest.StatusMarkedFailed:
		return exitMarkedFailed
	case loadtest.StatusErrored:
		return exitGenericError
	}
	return exitOK
}
