package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"

	"github.com/loadlens/loadlens/js"
)

// Main runs the loadlens command line and returns its exit code (k6's:
// 0, 99 thresholds, 104 invalid configuration, 107 script exception, …).
// args are the arguments after the program's name (os.Args[1:]). By
// default it reads and writes the process's standard streams and
// environment, and a second Ctrl-C during a run ends the process with 105;
// options change that.
func Main(ctx context.Context, args []string, opts ...Option) int {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, environ: os.Environ, hardExit: os.Exit,
		executable: os.Executable}
	for _, o := range opts {
		o(a)
	}
	return a.main(ctx, args)
}

// An Option changes what [Main] uses of the process or adds to what it
// runs.
type Option func(*app)

// WithModules adds Go-written JavaScript modules that k6 scripts import by
// their keys, which must start with "k6/x/" (js.Options.Modules): a custom
// binary is the whole CLI plus its modules, as an xk6 build is the whole
// k6. It may be given more than once.
func WithModules(modules map[string]js.Module) Option {
	return func(a *app) {
		if a.modules == nil {
			a.modules = map[string]js.Module{}
		}
		maps.Copy(a.modules, modules)
	}
}

// WithStdio replaces the process's standard streams: stdin is read by
// `run -`, stdout gets summaries and reports, stderr logs and errors.
func WithStdio(stdin io.Reader, stdout, stderr io.Writer) Option {
	return func(a *app) { a.stdin, a.stdout, a.stderr = stdin, stdout, stderr }
}

// app holds what a command may touch of the process, so tests can run
// commands in process.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string
	// hardExit ends the process at a second Ctrl-C (k6 exit code 105).
	hardExit func(int)
	// executable is this program, which `run --runners N` starts as its
	// runners.
	executable func() (string, error)
	// modules are the k6/x/ modules scripts may import.
	modules map[string]js.Module
	// files, when set, is where test files, scripts, their imports and
	// open()ed files are read (rooted at the OS root, see fsName): a
	// distributed run's archive, or the recorder that fills one. nil
	// reads the OS.
	files fs.FS
}

const usage = `loadlens — k6-style load tests, in process, with analysis

Usage:
  loadlens run [flags] FILE        run a test file (.json), a k6 script (.js, .ts) or an archive (.tar)
  loadlens archive [flags] SCRIPT  write the script and all it reads into a tar that runs offline
  loadlens inspect SCRIPT          print the script's options as JSON, as k6 inspect
  loadlens demo                    a short stress test against a built-in loopback target
  loadlens target [flags]          serve the built-in demo target on loopback
  loadlens report RESULT.json      write an HTML report (--html), JUnit (--junit) or JSON (--json)
  loadlens compare BASE CURRENT    compare two results (files written by run --result)
  loadlens serve [flags]           the agent: per-tenant REST API, history, alerts
  loadlens tenant VERB NAME        the agent's tenants: add, limits, key [revoke], keys, remove, list, webhook …
  loadlens coordinator [flags] FILE  coordinate a distributed run: runners join it over NATS
  loadlens runner --nats URL --run ID  take part in a distributed run
  loadlens runner --nats URL --pool    run the tests of agents started with serve --nats URL
  loadlens k8s render [flags] FILE   Kubernetes manifests of a distributed run
  loadlens version                 print the version

Run 'loadlens COMMAND --help' for a command's flags.
`

func (a *app) main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return a.run(ctx, rest)
	case "archive":
		return a.archive(ctx, rest)
	case "inspect":
		return a.inspect(ctx, rest)
	case "demo":
		return a.demo(ctx, rest)
	case "target":
		return a.target(ctx, rest)
	case "report":
		return a.report(rest)
	case "compare":
		return a.compare(rest)
	case "serve":
		return a.serve(ctx, rest)
	case "tenant":
		return a.tenant(ctx, rest)
	case "coordinator":
		return a.coordinator(ctx, rest)
	case "runner":
		return a.runner(ctx, rest)
	case "k8s":
		return a.k8s(ctx, rest)
	case "sandbox": // the agent's child for one tenant script: not for people
		return a.sandbox(ctx)
	case "version", "--version":
		if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help") {
			fmt.Fprintln(a.stdout, "Usage: loadlens version\n\nPrints loadlens's version.")
			return 0
		}
		fmt.Fprintln(a.stdout, "loadlens", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, usage)
		return 0
	}
	fmt.Fprintf(a.stderr, "loadlens: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// version is the CLI's version, set at build time with -ldflags.
var version = "0.1.0-dev"

// logger logs to stderr at info and above, as k6 does whatever -q says;
// quiet (the agent's scripts) keeps warnings and errors only.
// format is a --log-format: k6's text lines by default.
func (a *app) logger(quiet bool, format string) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	return slog.New(newLogHandler(a.stderr, format, level))
}
