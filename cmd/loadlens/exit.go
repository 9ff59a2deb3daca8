package main

// Exit codes, as k6's (js.ExitCode maps a run's outcome to them).
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
