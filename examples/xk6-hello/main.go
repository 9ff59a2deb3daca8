// Command xk6-hello is loadlens's answer to xk6: a custom binary that runs
// k6 scripts with an extension module (package hello, imported as
// "k6/x/hello"), built with plain `go build ./examples/xk6-hello`.
//
//	go build -o xk6-hello ./examples/xk6-hello
//	./xk6-hello -e NAME=value ./examples/xk6-hello/script.js
//
// It runs the script as `loadlens run` does: the script's options under
// the -u/-d/-i flags, setup, the scenarios, teardown, handleSummary or the
// text summary, and k6's exit codes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/loadlens/loadlens/examples/xk6-hello/hello"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// envFlags collects -e K=V.
type envFlags map[string]string

func (e envFlags) String() string { return fmt.Sprint(map[string]string(e)) }

func (e envFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", s)
	}
	e[k] = v
	return nil
}

// run runs one script and returns k6's exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("xk6-hello", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := envFlags{}
	fs.Var(env, "e", "an environment variable for the script, KEY=VALUE (repeatable)")
	vus := fs.Int64("u", 0, "VUs (overrides the script's options)")
	dur := fs.Duration("d", 0, "duration (overrides the script's options)")
	iters := fs.Int64("i", 0, "iterations (overrides the script's options)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: xk6-hello [-e K=V] [-u VUs] [-d duration] [-i iterations] script.js")
		return 2
	}
	var top loadtest.K6Options
	if *vus > 0 {
		top.VUs = vus
	}
	if *dur > 0 {
		top.Duration = dur
	}
	if *iters > 0 {
		top.Iterations = iters
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	opts := js.Options{Env: env, Logger: logger, Modules: map[string]js.Module{hello.ImportPath: hello.Module()}}
	plan, prog, warnings, err := js.Plan(ctx, js.Source{Path: fs.Arg(0)}, loadtest.K6Options{}, top, opts)
	for _, w := range warnings {
		logger.Warn(w)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return js.ExitCode(loadtest.Result{}, err)
	}
	res, err := loadtest.Run(ctx, plan)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
	}
	summarise(ctx, prog, res, stdout, stderr, logger)
	return js.ExitCode(res, err)
}

// summarise runs handleSummary, or prints the text summary when the script
// has none or it returned nothing, as k6 does.
func summarise(ctx context.Context, prog *js.Program, res loadtest.Result, stdout, stderr io.Writer, logger *slog.Logger) {
	outputs, ok, err := prog.HandleSummary(ctx, loadtest.NewSummaryData(res, loadtest.SummaryEnv{}))
	if err != nil {
		logger.Error("handleSummary failed", "err", err)
	}
	if !ok {
		_ = loadtest.WriteTextSummary(stdout, res, loadtest.SummaryEnv{})
		return
	}
	for name, b := range outputs {
		switch name {
		case "stdout":
			_, _ = stdout.Write(b)
		case "stderr":
			_, _ = stderr.Write(b)
		default:
			err := os.MkdirAll(filepath.Dir(name), 0o755)
			if err == nil {
				err = os.WriteFile(name, b, 0o644)
			}
			if err != nil {
				logger.Error("handleSummary output", "file", name, "err", err)
			}
		}
	}
}
