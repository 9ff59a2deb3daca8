package js

import (
	"errors"

	"github.com/loadlens/loadlens/loadtest"
)

// ExitCode is the code `k6 run` exits with for a run's outcome, where res
// and err are what loading the script or [loadtest.Run] returned: 0 passed,
// 99 thresholds crossed, 104 invalid options, 105 stopped from outside,
// 107 an exception in the script's init code or setup, 108 test.abort(),
// 110 test.fail(), 255 anything else.
func ExitCode(res loadtest.Result, err error) int {
	switch {
	case errors.Is(err, loadtest.ErrTestAborted):
		return 108
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return 104
	case errors.Is(err, ErrScript), errors.Is(err, loadtest.ErrSetup):
		return 107
	case err != nil:
		return 255
	}
	if res.Abort != nil {
		switch res.Abort.By {
		case loadtest.AbortByCaller:
			return 105
		case loadtest.AbortBySetup:
			return 107
		case loadtest.AbortByScript:
			return 108
		}
	}
	switch res.Status {
	case loadtest.StatusThresholdsFailed:
		return 99
	case loadtest.StatusMarkedFailed:
		return 110
	case loadtest.StatusErrored:
		return 255
	}
	return 0
}
