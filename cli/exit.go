package cli

import "github.com/loadlens/loadlens/js"

// Exit codes: k6's (js.ExitCode maps a run's outcome to them), and one of
// the command line's own.
const (
	exitOK              = js.ExitPassed
	exitThresholds      = js.ExitThresholds
	exitInvalidConfig   = js.ExitInvalidConfig
	exitExternalAbort   = js.ExitExternalAbort
	exitScriptException = js.ExitScriptException
	exitScriptAborted   = js.ExitScriptAborted
	exitMarkedFailed    = js.ExitMarkedFailed
	exitGenericError    = js.ExitGenericError
	exitCompareFailed   = 1 // compare --fail-on: the current run is worse
	exitUsage           = 2 // the command line itself is wrong
)
