package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/gemini"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// parseFlags parses a command's flags; done is set when the command should
// return code at once. --help prints the usage to stdout and returns 0; a
// bad flag or value prints pflag's error and the usage to stderr and
// returns exitUsage. Afterwards fs.Usage prints the usage to stderr, for
// the command's own argument checks.
func (a *app) parseFlags(fs *flag.FlagSet, usage string, args []string) (code int, done bool) {
	fs.SetOutput(a.stderr)
	printUsage := func(w io.Writer) { fmt.Fprintf(w, "Usage: %s\n\nFlags:\n%s", usage, fs.FlagUsages()) }
	fs.Usage = func() { printUsage(a.stdout) }
	err := fs.Parse(args)
	fs.Usage = func() { printUsage(a.stderr) }
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	case err != nil:
		fmt.Fprintf(a.stderr, "loadlens %s: %v\n\n", fs.Name(), err)
		fs.Usage()
		return exitUsage, true
	}
	return 0, false
}

// report is `loadlens report RESULT.json --html FILE --junit FILE --json FILE`.
func (a *app) report(args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	html := fs.String("html", "", "write the self-contained HTML report to FILE")
	junit := fs.String("junit", "", "write JUnit XML to FILE")
	jsonOut := fs.String("json", "", "write the versioned JSON report to FILE")
	analyse := fs.Bool("analyse", false, "analyse the result again (for a bare Result without findings)")
	if code, done := a.parseFlags(fs, "loadlens report [flags] RESULT.json", args); done {
		return code
	}
	if fs.NArg() != 1 || *html == "" && *junit == "" && *jsonOut == "" {
		fs.Usage()
		return exitUsage
	}
	in, err := readReport(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens report: %v\n", err)
		return exitGenericError
	}
	if *analyse {
		in.Analysis = anomaly.Analyze(in.Result, nil, anomaly.Options{})
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer, report.Input) error
	}{{*html, report.WriteHTML}, {*junit, report.WriteJUnit}, {*jsonOut, report.WriteJSON}} {
		if out.path == "" {
			continue
		}
		if err := writeFileWith(out.path, func(w io.Writer) error { return out.write(w, in) }); err != nil {
			fmt.Fprintf(a.stderr, "loadlens report: %s: %v\n", out.path, err)
			return exitGenericError
		}
	}
	return exitOK
}

func readReport(path string) (report.Input, error) {
	file, err := os.Open(path)
	if err != nil {
		return report.Input{}, err
	}
	defer file.Close()
	in, err := report.ReadJSON(file)
	if err != nil {
		return report.Input{}, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// compare is `loadlens compare BASE.json CURRENT.json [--json]`.
func (a *app) compare(args []string) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "write the comparison as JSON")
	noise := fs.Float64("noise-floor", 0, "smallest relative change that counts (default 0.05)")
	failOn := fs.String("fail-on", "", "exit 1 when the outcome is worse (worse), or only on regressions: a threshold that newly fails, "+
		"a metric significantly worse (regression); for CI gates")
	if code, done := a.parseFlags(fs, "loadlens compare [flags] BASE.json CURRENT.json", args); done {
		return code
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return exitUsage
	}
	switch *failOn {
	case "", failOnWorse, failOnRegression:
	default:
		fmt.Fprintf(a.stderr, "loadlens compare: --fail-on %q: want worse or regression\n\n", *failOn)
		fs.Usage()
		return exitUsage
	}
	var runs [2]report.Run
	for i := range runs {
		in, err := readReport(fs.Arg(i))
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens compare: %v\n", err)
			return exitGenericError
		}
		runs[i] = report.Run{Result: in.Result, Findings: in.Analysis.Findings}
	}
	c := report.Compare(runs[0], runs[1], report.CompareOptions{NoiseFloor: *noise})
	var err error
	if *asJSON {
		err = report.WriteComparisonJSON(a.stdout, c)
	} else {
		err = c.WriteText(a.stdout)
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens compare: %v\n", err)
		return exitGenericError
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(a.stderr, "loadlens compare: warning: %s\n", w)
	}
	switch regressions := c.Regressions(); {
	case *failOn == failOnWorse && c.Outcome == report.OutcomeWorse:
		fmt.Fprintf(a.stderr, "loadlens compare: the current run is worse (--fail-on worse)\n")
		return exitCompareFailed
	case *failOn == failOnRegression && len(regressions) > 0:
		fmt.Fprintf(a.stderr, "loadlens compare: %d regression(s) (--fail-on regression):\n", len(regressions))
		for _, r := range regressions {
			fmt.Fprintf(a.stderr, "  - %s\n", r)
		}
		return exitCompareFailed
	}
	return exitOK
}

// The values of compare --fail-on.
const (
	failOnWorse      = "worse"
	failOnRegression = "regression"
)

// sandbox is the agent's child for one tenant script (service.Sandbox): a
// job on stdin, messages on stdout, the script's logs on stderr.
func (a *app) sandbox(ctx context.Context) int {
	logger := slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := service.ServeSandbox(ctx, a.stdin, a.stdout, service.ChildOptions{Logger: logger, Modules: a.modules}); err != nil {
		fmt.Fprintf(a.stderr, "loadlens sandbox: %v\n", err)
		return exitGenericError
	}
	return exitOK
}

// serve is `loadlens serve --addr 127.0.0.1:8086 --db loadlens.db`: the
// agent, until SIGINT or SIGTERM, which stops running tests and keeps their
// partial results.
func (a *app) serve(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8086", "address to listen on")
	db := fs.String("db", "loadlens.db", "SQLite database (created if missing), or a postgres:// URL that several agent replicas share")
	ai := fs.Bool("ai", false, "ask Gemini about each finished run (GEMINI_API_KEY or Vertex AI)")
	perIP := fs.Int("max-conns-per-ip", 64, "connections kept from one client address; more are closed at once (0: no limit)")
	maxConns := fs.Int("max-conns", 4096, "connections kept in all (0: no limit)")
	sandbox := fs.Bool("sandbox", true, "run tenants' scripts in child processes, each with its own memory limit (--sandbox=false: in the agent's process)")
	sandboxMemory := fs.Int64("sandbox-memory-mib", 1024, "the memory limit of one sandboxed test, MiB")
	sandboxNice := fs.Int("sandbox-nice", 10, "the CPU niceness, 1 … 19, of a tenant's one sandboxed test (each of a tenant's k tests runs log1.25(k) steps nicer, so that tenants weigh the same)")
	natsURL := fs.String("nats", "", "run every test on the runner pool at this NATS server (with JetStream): `loadlens runner --nats URL --pool` on each runner machine")
	takeTimeout := fs.Duration("take-timeout", distributed.DefaultTakeTimeout, "with --nats: how long a test waits for a free runner before it fails")
	hooks := fs.String("webhooks", "", "a JSON file with the agent's own webhooks: [{\"url\": …, \"format\": \"json|slack\", \"events\": […]}] (a tenant's own: loadlens tenant webhook add)")
	if code, done := a.parseFlags(fs, "loadlens serve [flags]", args); done {
		return code
	}
	if *sandboxNice < 1 || *sandboxNice > 19 {
		fmt.Fprintf(a.stderr, "loadlens serve: --sandbox-nice: want 1 … 19, got %d\n", *sandboxNice)
		return exitUsage
	}
	logger := slog.New(service.NewLogHandler(a.stderr, slog.LevelInfo))
	st, err := store.OpenWith(ctx, *db, store.Options{Exclusive: true})
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens serve: %v\n", err)
		return exitGenericError
	}
	defer st.Close()
	cfg := service.Config{Store: st, Logger: logger, Modules: a.modules}
	if *sandbox {
		exe, err := a.executable()
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens serve: the sandbox needs this program's path: %v\n", err)
			return exitGenericError
		}
		cfg.Sandbox = &service.Sandbox{Command: []string{exe, "sandbox"}, MemoryBytes: *sandboxMemory << 20, Nice: *sandboxNice}
	}
	if *natsURL != "" {
		if cfg.Sandbox == nil {
			fmt.Fprintln(a.stderr, "loadlens serve: --nats runs tests in sandboxes on the runners: drop --sandbox=false")
			return exitUsage
		}
		nc, err := nats.Connect(*natsURL, nats.Name("loadlens agent"), nats.RetryOnFailedConnect(true),
			nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens serve: nats: %v\n", err)
			return exitGenericError
		}
		defer nc.Close()
		pool := &distributed.Pool{Conn: nc, TakeTimeout: *takeTimeout, Logger: logger}
		cfg.Sandbox.Start = func(ctx context.Context) (service.SandboxChild, error) {
			s, err := pool.Start(ctx)
			if err != nil {
				return nil, err
			}
			return s, nil
		}
	}
	if *hooks != "" {
		b, err := os.ReadFile(*hooks)
		if err == nil {
			err = json.Unmarshal(b, &cfg.Webhooks)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens serve: --webhooks: %v\n", err)
			return exitInvalidConfig
		}
	}
	if *ai {
		gcfg := gemini.ConfigFromEnv(a.getenv)
		gcfg.Logger = logger
		an, err := gemini.New(ctx, gcfg)
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens serve: %v\n", err)
			return exitInvalidConfig
		}
		cfg.Analyze = func(ctx context.Context, res loadtest.Result, history []loadtest.Result, base *loadtest.Result) (anomaly.Report, *anomaly.AIAnalysis) {
			rep := anomaly.Analyze(res, history, anomaly.Options{})
			analysis := an.Analyze(ctx, res, rep, base)
			return rep, &analysis
		}
	}
	srv, err := service.New(cfg)
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens serve: %v\n", err)
		return exitGenericError
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens serve: %v\n", err)
		return exitGenericError
	}
	httpSrv := srv.HTTPServer()
	ln = service.LimitListener(ln, *perIP, *maxConns, httpSrv)
	ctx, stop := a.signalContextSaying(ctx, "stopping the agent (running tests keep partial results)")
	defer stop()
	logger.Info("loadlens agent listening", "addr", ln.Addr().String(), "db", store.Redacted(*db))
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // first: it ends SSE streams that would hold up the HTTP server
		_ = httpSrv.Shutdown(shutdownCtx)
		err = <-served
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(a.stderr, "loadlens serve: %v\n", err)
		return exitGenericError
	}
	return exitOK
}
