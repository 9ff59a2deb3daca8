// Package exitcode maps a run's outcome to the exit code of `k6 run`.
//
// The command line owns its exit codes; this leaf is apart from package cli
// so that the script runtime's ground-truth tests can check their runs
// against the codes k6 exited with, through the same map. It imports js
// (script errors) and loadtest, nothing above.
//
//	res, err := loadtest.Run(ctx, plan)
//	os.Exit(exitcode.Of(res, err))
package exitcode
