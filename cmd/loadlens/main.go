// Command loadlens runs k6-style load tests in process, analyses them, and
// serves the loadlens agent. Everything but os.Args and the exit is in
// package cli, which custom binaries import too.
package main

import (
	"context"
	"os"

	"github.com/loadlens/loadlens/cli"
)

// stopProfile ends what a profiling build (profile.go) started; a no-op
// otherwise.
var stopProfile = func() {}

func main() {
	code := cli.Main(context.Background(), os.Args[1:])
	stopProfile()
	os.Exit(code)
}
