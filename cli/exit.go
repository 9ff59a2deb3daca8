package cli

import "github.com/loadlens/loadlens/cli/exitcode"

// Exit codes: k6's (exitcode.Of maps a run's outcome to them), and the
// command line's own.
const (
	exitOK              = exitcode.Passed
	exitThresholds      = exitcode.Thresholds
	exitInvalidConfig   = exitcode.InvalidConfig
	exitExternalAbort   = exitcode.ExternalAbort
	exitScriptException = exitcode.ScriptException
	exitScriptAborted   = exitcode.ScriptAborted
	exitMarkedFailed    = exitcode.MarkedFailed
	exitGenericError    = exitcode.GenericError
	exitCompareFailed   = 1 // compare --fail-on: the current run is worse
	exitUsage           = 2 // the command line itself is wrong
)
