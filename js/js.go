package js

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// Source is the k6 script to load: a file (Path) or code in memory
// (Filename and Code).
type Source struct {
	// Path is the script's file: a path in FS when FS is set, else an OS
	// path (relative paths are made absolute).
	Path string
	// Filename names Code in error positions and is where relative imports
	// and open() start from; used when Code is set. Default "script.js".
	Filename string
	// Code is the script itself; when set, Path is not read.
	Code []byte
	// FS holds the files that relative imports and open() read. nil means
	// the OS file system: give scripts from untrusted sources (the agent's
	// tenants) an FS with only their own files, such as an empty
	// fstest.MapFS, or open('/etc/passwd') reads the host's file.
	FS fs.FS
}

// Options configure how a script loads and runs. The zero value works:
// empty __ENV, logs discarded, only k6's own modules.
type Options struct {
	// Env is the script's __ENV (the caller decides whether the system
	// environment is part of it, and adds -e K=V). Scenarios add theirs.
	Env map[string]string
	// Logger receives console output (source=console) and the runtime's
	// warnings; nil discards them.
	Logger *slog.Logger
	// Modules are the extensions scripts may import, keyed by their import
	// path, which must start with "k6/x/" (k6's xk6 extensions). Nothing is
	// registered globally: a custom binary passes its own.
	Modules map[string]Module
	// CompatibilityMode is k6's --compatibility-mode: "extended" (default,
	// adds the global `global`) or "base".
	CompatibilityMode string
	// Throw is k6's --throw: network errors and bad metric values throw
	// exceptions, whatever the script's `throw` option says.
	Throw bool
	// Remote fetches the modules scripts import or require by http(s)
	// URL (*RemoteModules over HTTP, with a cache); nil refuses them.
	Remote ModuleFetcher
	// Secrets are k6/secrets' sources (k6's --secret-source); the values
	// scripts get are redacted from the logs.
	Secrets Secrets
}

// Module is a JavaScript module written in Go, imported from scripts under
// "k6/x/NAME" (see Options.Modules). Instantiate is called once per VU, in
// its init context, from that VU's goroutine; it returns the module's
// exports for that VU. Many VUs instantiate a module concurrently, so a
// Module shares state across VUs only through values safe for concurrent
// use.
type Module interface {
	Instantiate(vu *VU) (Exports, error)
}

// ModuleFunc adapts a function to Module.
type ModuleFunc func(vu *VU) (Exports, error)

// Instantiate implements Module.
func (f ModuleFunc) Instantiate(vu *VU) (Exports, error) { return f(vu) }

// Exports are what a Go module exports to one VU. Values are converted with
// the VU's Runtime().ToValue: Go functions become JavaScript functions
// (func(sobek.FunctionCall) sobek.Value is the fastest form), maps and
// structs become objects.
type Exports struct {
	// Default is the default export; nil means an object of the named
	// exports.
	Default any
	// Named are the named exports.
	Named map[string]any
}

// Default times of the script lifecycle, as k6.
const (
	DefaultHandleSummaryTimeout = 120 * time.Second
)

// ErrScript is wrapped by every error that a script's own code caused: a
// syntax error, an exception thrown in init code, setup, teardown or
// handleSummary, an import that cannot be resolved. The CLI maps it to k6's
// exit code 107. Use errors.As with *ScriptError for the position.
var ErrScript = errors.New("script error")

// Load compiles the script and the modules it imports once, then runs its
// init code once as k6's "VU 0" to read `export const options`, the
// custom metrics it declares and its exported functions. The returned
// Program runs the script on any number of VUs; each gets its own runtime
// and shares the compiled code, open()ed files and SharedArrays.
//
// Errors in the script wrap ErrScript (a *ScriptError names file, line and
// column); a test.abort() in init code wraps loadtest.ErrTestAborted; an
// options object that loadlens cannot read wraps loadtest.ErrInvalidPlan.
func Load(ctx context.Context, src Source, opts Options) (*Program, error) {
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	l, main, err := newLoader(ctx, src, opts)
	if err != nil {
		return nil, err
	}
	vals := &secretValues{}
	p := &Program{opts: opts, loader: l, main: main, registry: metrics.NewRegistry(), redactor: vals,
		logger: slog.New(&redactor{next: logger(opts.Logger).Handler(), vals: vals})}
	if err := p.inspect(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func validateOptions(opts Options) error {
	var errs []error
	for name, m := range opts.Modules {
		switch {
		case len(name) <= len(extPrefix) || name[:len(extPrefix)] != extPrefix:
			errs = append(errs, fmt.Errorf("js options: modules[%q]: extension modules are imported as %q", name, extPrefix+"NAME"))
		case m == nil:
			errs = append(errs, fmt.Errorf("js options: modules[%q]: nil module", name))
		}
	}
	switch opts.CompatibilityMode {
	case "", "extended", "base":
	default:
		errs = append(errs, fmt.Errorf("js options: compatibilityMode: want \"extended\" or \"base\", got %q", opts.CompatibilityMode))
	}
	return errors.Join(errs...)
}

const extPrefix = "k6/x/"

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Plan loads the script and builds its plan the way k6 layers options:
// base (a config file, the agent's preset) below the script's own
// `export const options`, top (CLI flags, the test spec's options) above.
// The plan runs the program with opts.Env as its environment and declares
// the custom metrics the script creates in its init code. It returns k6's
// warnings (ignored options, shortcuts overriding scenarios).
//
// Errors are those of Load, and errors wrapping loadtest.ErrInvalidPlan
// when the layered options or the plan do not validate.
func Plan(ctx context.Context, src Source, base, top loadtest.K6Options, opts Options) (loadtest.Plan, *Program, []string, error) {
	prog, err := Load(ctx, src, opts)
	if err != nil {
		return loadtest.Plan{}, nil, nil, err
	}
	final := base.Override(prog.Options()).Override(top)
	plan := loadtest.Plan{Env: opts.Env, Logger: opts.Logger}
	warnings, err := final.Apply(&plan)
	if err != nil {
		return loadtest.Plan{}, prog, nil, err
	}
	prog.setFinal(final)
	plan.Program = prog
	plan.Metrics = prog.Metrics()
	if err := plan.Validate(); err != nil {
		return plan, prog, warnings, err
	}
	return plan, prog, warnings, nil
}

var (
	_ loadtest.Program    = (*Program)(nil)
	_ loadtest.Setupper   = (*Program)(nil)
	_ loadtest.Teardowner = (*Program)(nil)
	_ loadtest.ExecLister = (*Program)(nil)
	_ sobek.ModuleRecord  = (*goModule)(nil)

	_ sobek.DynamicObject = (*lazyGlobals)(nil)
	_ sobek.DynamicObject = (*lazyExports)(nil)
	_ sobek.DynamicObject = (*response)(nil)
	_ sobek.DynamicObject = (*grpcResponse)(nil)
	_ sobek.DynamicObject = (*vuTags)(nil)
	_ sobek.DynamicObject = (*vuMetadata)(nil)
	_ sobek.DynamicObject = (*taggedURL)(nil)
	_ sobek.DynamicObject = (*httpFile)(nil)
	_ sobek.DynamicObject = (*cookieJarObj)(nil)
	_ sobek.DynamicArray  = (*sharedView)(nil)
)
