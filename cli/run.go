package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/loadlens/loadlens/cli/exitcode"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
)

// run is `loadlens run [flags] FILE`.
func (a *app) run(ctx context.Context, args []string) int {
	f := newRunFlags("run")
	var d distFlags
	d.register(f.fs, false)
	if code, done := a.parseFlags(f.fs, "loadlens run [flags] FILE.json|FILE.js|FILE.ts|-", args); done {
		return code
	}
	if f.fs.NArg() != 1 {
		f.fs.Usage()
		return exitUsage
	}
	logger, logs, err := a.runLogger(f)
	if err != nil {
		return a.configError(loadtest.Invalid(err))
	}
	defer logs.Close()
	f.logger = logger
	path := f.fs.Arg(0)
	f.remoteModules = true
	if d.runners > 0 {
		return a.runDistributed(ctx, path, f, &d, true)
	}
	plan, warnings, err := a.loadPlan(ctx, path, f)
	if err != nil {
		return a.loadError(err)
	}
	if err := f.applyTelemetry(&plan); err != nil {
		return a.configError(err)
	}
	plan.Logger = f.log(a)
	for _, w := range append(f.ignoredWarnings(), warnings...) {
		plan.Logger.Warn(w)
	}
	_, code := a.execute(ctx, plan, f, filepath.Base(path))
	return code
}

// loadError prints why a test could not be loaded and returns k6's exit
// code: 107 for a script's exception, 104 for an invalid configuration (a
// test file's or --config's included), 108 for test.abort() in init, else
// 255, k6's for a script it cannot find or read.
func (a *app) loadError(err error) int {
	switch {
	case isScriptException(err):
		fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
		return exitScriptException
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return a.configError(err)
	}
	fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
	return exitcode.Of(loadtest.Result{}, err)
}

// configError prints every problem of an invalid configuration.
func (a *app) configError(err error) int {
	fmt.Fprintf(a.stderr, "loadlens: invalid configuration:\n")
	for _, p := range loadtest.ProblemsOf(err) {
		fmt.Fprintf(a.stderr, "  - %s\n", p)
	}
	return exitcode.Of(loadtest.Result{}, err)
}

// loadPlan reads a test file or script and lays the K6_* environment and
// then the flags over it.
func (a *app) loadPlan(ctx context.Context, path string, f *runFlags) (loadtest.Plan, []string, error) {
	env, envErr := envLayer(a.getenv)
	flags, flagsErr := f.overrides()
	if err := errors.Join(envErr, flagsErr); err != nil {
		return loadtest.Plan{}, nil, err
	}
	cli := env.Override(flags)
	vars, err := keyValues("--env", f.env)
	if err != nil {
		return loadtest.Plan{}, nil, loadtest.Invalid(err)
	}
	var warnings []string
	if f.config != "" {
		b, err := a.readFile(f.config)
		if err == nil {
			f.configLayer, err = loadtest.DecodeK6Options(b)
		}
		if err != nil {
			return loadtest.Plan{}, nil, loadtest.Invalid(fmt.Errorf("--config %s: %w", f.config, err))
		}
		// Its warnings come with the plan's: it is the plan's lowest layer.
	}
	kind := strings.ToLower(filepath.Ext(path))
	var src []byte
	if path == "-" {
		src, err = io.ReadAll(a.stdin)
	} else {
		src, err = a.readFile(path)
	}
	switch {
	case err != nil && kind == ".json": // a test file is configuration: k6's 104
		return loadtest.Plan{}, nil, loadtest.Invalid(fmt.Errorf("test file: %w", err))
	case errors.Is(err, fs.ErrNotExist): // as k6, 255
		return loadtest.Plan{}, nil, fmt.Errorf("%q couldn't be found on local disk; check the path: %w", path, err)
	case err != nil:
		return loadtest.Plan{}, nil, err
	}
	var plan loadtest.Plan
	var more []string
	switch {
	case path == "-" && !bytes.HasPrefix(bytes.TrimSpace(src), []byte("{")):
		// k6 run - reads a script; a test file (a JSON object) may come too.
		plan, more, err = a.scriptPlan(ctx, js.Source{Filename: "stdin.js", Code: src}, f.configLayer, cli, vars, f)
		return plan, append(warnings, more...), err
	case kind == ".json" || path == "-":
		spec, err := loadtest.DecodeTestSpec(src)
		if err != nil {
			return loadtest.Plan{}, nil, loadtest.Invalid(fmt.Errorf("%s: %w", path, err))
		}
		if spec.ScriptFile != "" { // next to the test file
			spec.ScriptFile = filepath.Join(filepath.Dir(path), filepath.FromSlash(spec.ScriptFile))
		}
		if f.config != "" {
			return loadtest.Plan{}, nil, fmt.Errorf("%w: --config: applies to k6 scripts; a test file has its own \"options\"", loadtest.ErrInvalidPlan)
		}
		plan, more, err = a.specPlan(ctx, spec, cli, vars, f)
		return plan, append(warnings, more...), err
	case slices.Contains([]string{".js", ".mjs", ".cjs", ".ts", ".mts", ".cts"}, kind):
		plan, more, err = a.scriptPlan(ctx, js.Source{Path: path}, f.configLayer, cli, vars, f)
		return plan, append(warnings, more...), err
	case kind == ".tar":
		ar, err := js.ReadArchive(bytes.NewReader(src))
		if err != nil {
			return loadtest.Plan{}, nil, fmt.Errorf("%w: %s: %w", js.ErrScript, path, err)
		}
		env := merge(ar.Metadata.Env, vars)
		opts, system, err := a.scriptOptions(env, f)
		if err != nil {
			return loadtest.Plan{}, nil, err
		}
		opts.Remote = ar.Remote // offline: only what the archive holds
		plan, _, more, err = js.Plan(ctx, ar.Source, f.configLayer, cli, opts)
		return recordEnv(plan, env, system), append(warnings, more...), err
	}
	return loadtest.Plan{}, nil, fmt.Errorf("%w: %s: want a test file (.json) or a k6 script (.js)", loadtest.ErrInvalidPlan, path)
}

// specPlan builds the plan of a test file: the preset, the file's options,
// then the command line's.
func (a *app) specPlan(ctx context.Context, spec loadtest.TestSpec, cli loadtest.K6Options, env map[string]string, f *runFlags) (loadtest.Plan, []string, error) {
	env = merge(spec.Env, env)
	opts := js.Options{Env: env} // the system environment is for scripts that ask for it
	var system map[string]string
	if spec.HasScript() {
		var err error
		if opts, system, err = a.scriptOptions(env, f); err != nil {
			return loadtest.Plan{}, nil, err
		}
	}
	if a.files != nil && spec.ScriptFile != "" {
		spec.ScriptFile = fsName(spec.ScriptFile)
	}
	plan, warnings, err := js.SpecPlan(ctx, spec, cli, a.files, opts)
	if err == nil {
		warnings = append(presetDefaults(spec, plan), warnings...)
	}
	return recordEnv(plan, env, system), warnings, err
}

// presetDefaults says up front what a preset test file left to the
// preset, and the test that makes: a load test of "10s" is not 10 s.
func presetDefaults(spec loadtest.TestSpec, plan loadtest.Plan) []string {
	var missing []string
	switch spec.TestType {
	case loadtest.TestSmoke, loadtest.TestSoak, loadtest.TestBreakpoint:
	case loadtest.TestLoad, loadtest.TestStress, loadtest.TestSpike:
		if spec.RampUpDurationSeconds == nil {
			missing = append(missing, "ramp_up_duration_seconds")
		}
	default:
		return nil
	}
	if spec.VirtualUsers == nil {
		missing = append(missing, "virtual_users")
	}
	if spec.Duration == nil && spec.DurationMinutes == nil {
		missing = append(missing, "duration")
	}
	if len(missing) == 0 || len(plan.Scenarios) != 1 || spec.HasScript() {
		return nil
	}
	if opts, err := loadtest.DecodeK6Options(spec.Options); len(spec.Options) > 0 && err == nil && opts.HasExecution() {
		return nil // the file's options replace the preset
	}
	name := plan.Scenarios.Sorted()[0]
	return []string{fmt.Sprintf("test_type %q: %s not given, so the preset's (ramps scale with a given duration): %s",
		spec.TestType, strings.Join(missing, ", "), plan.Scenarios[name].Description(nil))}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// execute runs a plan with the flags' outputs, prints the summary and the
// analysis, writes the requested files, and returns k6's exit code.
func (a *app) execute(ctx context.Context, plan loadtest.Plan, f *runFlags, script string) (loadtest.Result, int) {
	gate, code := a.readBudgetGate(f)
	if code != exitOK {
		return loadtest.Result{}, code
	}
	var outputs []loadtest.Output
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	var outNames []string
	var dashboards []*liveDashboard
	specs := f.out
	if env := dashboardOutput(a.getenv); env != "" && !slices.ContainsFunc(specs, isDashboard) {
		specs = append(slices.Clip(specs), env)
	}
	for _, o := range specs {
		if isDashboard(o) {
			_, addr, _ := strings.Cut(o, "=")
			d, err := openDashboard(plan.Name, addr)
			if err != nil {
				fmt.Fprintf(a.stderr, "loadlens: --out %s: %v\n", o, err)
				return loadtest.Result{}, exitInvalidConfig
			}
			closers = append(closers, d)
			dashboards = append(dashboards, d)
			outputs = append(outputs, d.Dashboard)
			outNames = append(outNames, "web-dashboard ("+d.url+")")
			fmt.Fprintf(a.stderr, "loadlens: web dashboard at %s\n", d.url)
			continue
		}
		out, c, err := a.openOutput(o)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens: --out %s: %v\n", o, err)
			return loadtest.Result{}, exitInvalidConfig
		}
		outputs = append(outputs, out)
		if c != nil {
			closers = append(closers, c)
		}
		outNames = append(outNames, describeOutput(o))
	}
	var breakdown *loadtest.Breakdown
	if f.summaryMode == summaryFull {
		breakdown = &loadtest.Breakdown{}
		outputs = append(outputs, breakdown)
	}
	tty := isTerminal(a.stdout)
	if !f.quiet {
		a.printHeader(plan, script, outNames)
	}
	if !f.quiet {
		outputs = append(outputs, newProgressBar(a.stdout, tty, plan.Scenarios))
	}

	ctx, stop := a.signalContext(ctx)
	defer stop()
	res, err := loadtest.Run(ctx, plan, outputs...)
	if err != nil {
		if errors.Is(err, loadtest.ErrInvalidPlan) {
			return res, a.configError(err)
		}
		fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
		return res, exitcode.Of(res, err)
	}

	in := a.analyse(ctx, res, f)
	for _, d := range dashboards {
		if err := d.Finish(in); err != nil {
			fmt.Fprintf(a.stderr, "loadlens: web dashboard: %v\n", err)
		}
	}
	senv := loadtest.SummaryEnv{StdoutTTY: tty, NoColor: f.noColor, TimeUnit: f.summaryTimeUnit, Full: f.summaryMode == summaryFull, Breakdown: breakdown}
	// -q hides the banner and the progress bar only: k6 still prints the
	// summary; --summary-mode=disabled drops it and handleSummary.
	summary := f.summaryMode != summaryDisabled
	replaced := summary && a.handleSummary(ctx, plan, res, senv)
	if summary {
		// When handleSummary took stdout, what loadlens adds to k6's
		// summary still reaches the terminal, on stderr.
		out := a.stderr
		if !replaced {
			out = a.stdout
			if err := loadtest.WriteTextSummary(a.stdout, res, senv); err != nil {
				fmt.Fprintf(a.stderr, "loadlens: summary: %v\n", err)
			}
		}
		writeErrorCodes(out, res)
		if !f.noAnalysis {
			writeFindings(out, in.Analysis)
		}
		if in.AI != nil {
			writeAI(out, *in.AI)
		}
	}
	if err := a.writeFiles(f, res, in); err != nil {
		fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
		return res, exitGenericError
	}
	code = exitcode.Of(res, nil)
	if code == exitThresholds {
		fmt.Fprintf(a.stderr, "loadlens: %s\n", loadtest.CrossedMessage(res.Thresholds))
	}
	if gate != nil && a.holdToBudgets(gate, res, in, f) && code == exitOK {
		code = exitThresholds
	}
	return res, code
}

// writeFiles writes --summary-export, --result, --report and --junit.
func (a *app) writeFiles(f *runFlags, res loadtest.Result, in report.Input) error {
	summaryExport := func(w io.Writer, _ report.Input) error { return loadtest.WriteSummaryExport(w, res) }
	for _, out := range []struct {
		flag, path string
		write      func(io.Writer, report.Input) error
	}{
		{"--summary-export", f.summaryExport, summaryExport},
		{"--result", f.resultFile, report.WriteJSON},
		{"--report", f.reportFile, report.WriteHTML},
		{"--junit", f.junitFile, report.WriteJUnit},
	} {
		if out.path == "" {
			continue
		}
		if err := writeFileWith(out.path, func(w io.Writer) error { return out.write(w, in) }); err != nil {
			return fmt.Errorf("%s: %w", out.flag, err)
		}
	}
	return nil
}

// writeFileWith creates path and writes it with write.
func writeFileWith(path string, write func(io.Writer) error) error {
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(file); err != nil {
		_ = file.Close()
		return err
	}
	return file.Close()
}

// signalContext cancels ctx at the first SIGINT or SIGTERM (a graceful
// stop: the summary is still printed) and exits with k6's 105 at the second.
func (a *app) signalContext(ctx context.Context) (context.Context, func()) {
	return a.signalContextSaying(ctx, "stopping gracefully (press Ctrl-C again to stop now)")
}

// signalContextSaying is signalContext with what to say at the first signal.
func (a *app) signalContextSaying(ctx context.Context, first string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(a.stderr, "\nloadlens: %s: %s\n", s, first)
			cancel(fmt.Errorf("stopped by signal %s", s))
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(a.stderr, "loadlens: stopping now")
			a.hardExit(exitExternalAbort)
		case <-done:
		}
	})
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

// openOutput opens one --out value.
func (a *app) openOutput(spec string) (loadtest.Output, io.Closer, error) {
	kind, arg, _ := strings.Cut(spec, "=")
	var open func(w io.Writer, compress bool) loadtest.Output
	switch kind {
	case "json":
		open = func(w io.Writer, compress bool) loadtest.Output { return loadtest.NewJSONOutput(w, compress) }
	case "csv":
		open = func(w io.Writer, compress bool) loadtest.Output { return loadtest.NewCSVOutput(w, compress) }
	default:
		return nil, nil, fmt.Errorf("unknown output %q; loadlens writes json=FILE, csv=FILE and web-dashboard[=127.0.0.1:PORT]", kind)
	}
	if arg == "" || arg == "-" {
		return open(a.stdout, false), nil, nil
	}
	file, err := os.Create(arg)
	if err != nil {
		return nil, nil, err
	}
	return open(file, strings.HasSuffix(arg, ".gz")), file, nil
}

func describeOutput(spec string) string {
	kind, arg, _ := strings.Cut(spec, "=")
	if arg == "" {
		return kind
	}
	return fmt.Sprintf("%s (%s)", kind, arg)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
