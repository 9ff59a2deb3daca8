// Command loadlens runs k6-style load tests in process, analyses them, and
// serves the loadlens agent. It is the only part of loadlens that reads
// os.Args, the environment and signals, and picks exit codes.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `loadlens — k6-style load tests, in process, with analysis

Usage:
  loadlens demo    run a short spike test against a built-in loopback target
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "demo":
		fmt.Fprintln(stdout, "loadlens demo: not built yet (the engine lands with issue 4)")
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "loadlens: unknown command %q\n\n%s", args[0], usage)
	return 2
}
