package cli

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/scenarios"
)

// runFlags are `loadlens run`'s flags, k6's where k6 has them.
type runFlags struct {
	vus                      int64
	duration                 string
	iterations               int64
	stages                   []string
	env                      []string
	tags                     []string
	out                      []string
	summaryExport            string
	summaryTrendStats        string
	noThresholds             bool
	executionSegment         string
	executionSegmentSequence string
	quiet                    bool
	summaryMode              string
	quietLogs                bool // not a flag: the agent's scripts log warnings only
	resultFile               string
	reportFile               string
	noAnalysis               bool
	ai                       bool
	junitFile                string
	telemetryPrometheus      string
	telemetryPID             int
	noColor                  bool
	summaryTimeUnit          string
	throw                    bool
	includeSystemEnv         bool
	noSetup, noTeardown      bool
	targetCPUs               float64
	moduleCache              string
	secretSources            []string
	offline                  bool
	userAgent                string
	logFormat                string
	budgetFile               string
	budgetBaseline           string
	remoteModules            bool // not a flag: only `run` fetches remote modules, the agent does not

	// k6's engine options, as flags.
	insecureSkipTLSVerify bool
	systemTags            []string
	discardResponseBodies bool
	maxRedirects          int
	noConnectionReuse     bool
	noVUConnectionReuse   bool
	setupTimeout          string
	teardownTimeout       string
	minIterationDuration  string
	blacklistIPs          []string
	httpDebug             string
	config                string
	configLayer           loadtest.K6Options // --config's options, read by loadPlan
	compatibilityMode     string

	// Logging, as k6.
	verbose       bool
	logOutput     string
	consoleOutput string
	logger        *slog.Logger // made from these and logFormat by runLogger; nil: a.logger(quietLogs, logFormat)

	// k6 flags loadlens accepts and does not act on (see ignoredFlags).
	rps, batch, batchPerHost int64
	dns                      string
	paused, linger           bool
	noUsageReport            bool

	fs *flag.FlagSet
}

// newRunFlags returns the flags of run, and of demo, which takes them too.
func newRunFlags(command string) *runFlags {
	f := &runFlags{}
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.Int64VarP(&f.vus, "vus", "u", 0, "number of virtual users")
	fs.StringVarP(&f.duration, "duration", "d", "", "test duration, e.g. 30s, 5m")
	fs.Int64VarP(&f.iterations, "iterations", "i", 0, "total iterations, shared among the VUs")
	fs.StringArrayVarP(&f.stages, "stage", "s", nil, "a ramping stage DURATION:TARGET, e.g. 30s:10 (repeatable)")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "an environment variable K=V for the test (repeatable)")
	fs.StringArrayVar(&f.tags, "tag", nil, "a tag K=V added to every sample (repeatable)")
	fs.StringArrayVarP(&f.out, "out", "o", nil, "an output: json=FILE or csv=FILE (FILE.gz compresses, - is stdout), or web-dashboard[=ADDR], a live page on loopback (default 127.0.0.1:5665; K6_WEB_DASHBOARD=true does the same)")
	fs.StringVar(&f.summaryExport, "summary-export", "", "write k6's end-of-test summary JSON to FILE")
	fs.StringVar(&f.summaryTrendStats, "summary-trend-stats", "", "trend stats in the summary, e.g. avg,p(95),p(99.9)")
	fs.BoolVar(&f.noThresholds, "no-thresholds", false, "do not evaluate thresholds")
	fs.StringVar(&f.executionSegment, "execution-segment", "", "this instance's share of the test, e.g. 1/3:2/3")
	fs.StringVar(&f.executionSegmentSequence, "execution-segment-sequence", "", "all instances' segments, e.g. 0,1/3,2/3,1")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no banner and no progress bar; the summary and the script's logs are still printed, as in k6")
	fs.StringVar(&f.summaryMode, "summary-mode", summaryCompact, "the end-of-test summary: compact, full (every HTTP timing, and a section per scenario and per group) or disabled (no summary, no handleSummary)")
	fs.BoolVar(&f.noSetup, "no-setup", false, "scripts: do not run setup()")
	fs.BoolVar(&f.noTeardown, "no-teardown", false, "scripts: do not run teardown()")
	fs.Float64Var(&f.targetCPUs, "target-cpus", 0, "CPUs the target may use; with target telemetry, a target pegged near them is a finding (0: unknown)")
	fs.StringVar(&f.resultFile, "result", "", "write the whole Result and its findings as JSON to FILE")
	fs.StringVar(&f.reportFile, "report", "", "write a self-contained HTML report to FILE")
	fs.BoolVar(&f.noAnalysis, "no-analysis", false, "do not analyse the run")
	fs.BoolVar(&f.ai, "ai", false, "ask Gemini for a grounded analysis (GEMINI_API_KEY, or Vertex AI via GOOGLE_CLOUD_PROJECT)")
	fs.StringVar(&f.junitFile, "junit", "", "write thresholds, checks and serious findings as JUnit XML to FILE")
	fs.StringVar(&f.telemetryPrometheus, "telemetry-prometheus", "", "scrape the target's Prometheus metrics at URL during the run")
	fs.IntVar(&f.telemetryPID, "telemetry-pid", 0, "watch the target's process (same machine) during the run")
	fs.BoolVar(&f.noColor, "no-color", false, "no colours in the output")
	fs.StringVar(&f.summaryTimeUnit, "summary-time-unit", "", "time values in the summary in s, ms or us (default: each in its own)")
	fs.BoolVarP(&f.throw, "throw", "w", false, "scripts: network errors and bad metric values throw")
	fs.BoolVar(&f.includeSystemEnv, "include-system-env-vars", true, "scripts: the system environment is part of __ENV")
	fs.StringVar(&f.moduleCache, "module-cache", "", "scripts: keep fetched remote modules in DIR (default: the user's cache folder, loadlens/modules)")
	fs.StringVar(&f.userAgent, "user-agent", "", `the User-Agent requests send (k6's userAgent option; default "`+k6http.DefaultUserAgent+`"; "" sends none)`)
	fs.StringVar(&f.logFormat, "log-format", "", "log lines: k6's text lines (default), raw (the message only) or json (slog's JSON)")
	fs.StringArrayVar(&f.secretSources, "secret-source", nil, "scripts: a k6/secrets source: file=PATH, file=name=N,filename=PATH[,default] or mock=K=V,...[,name=N][,default] (repeatable)")
	fs.StringVar(&f.budgetFile, "budget", "", "hold the run to the performance budgets in FILE (the body of the agent's PUT /budgets/{test}); a breach exits 99")
	fs.StringVar(&f.budgetBaseline, "budget-baseline", "", "an earlier --result FILE: the baseline of --budget's baseline budgets")
	fs.BoolVar(&f.offline, "offline", false, "scripts: take remote modules from the module cache only, never from the network")

	fs.BoolVar(&f.insecureSkipTLSVerify, "insecure-skip-tls-verify", false, "accept any TLS certificate")
	fs.StringSliceVar(&f.systemTags, "system-tags", nil, "only these system tags on samples, e.g. status,method,url,scenario")
	fs.BoolVar(&f.discardResponseBodies, "discard-response-bodies", false, "read response bodies off the wire and drop them")
	fs.IntVar(&f.maxRedirects, "max-redirects", k6http.DefaultMaxRedirects, "follow at most N redirects")
	fs.BoolVar(&f.noConnectionReuse, "no-connection-reuse", false, "a new connection for every request")
	fs.BoolVar(&f.noVUConnectionReuse, "no-vu-connection-reuse", false, "close a VU's connections after each iteration")
	fs.StringVar(&f.setupTimeout, "setup-timeout", "", "how long setup() may take (default 60s)")
	fs.StringVar(&f.teardownTimeout, "teardown-timeout", "", "how long teardown() may take (default 60s)")
	fs.StringVar(&f.minIterationDuration, "min-iteration-duration", "", "shorter iterations are padded to this")
	fs.StringArrayVar(&f.blacklistIPs, "blacklist-ip", nil, "a CIDR range requests may not connect to (repeatable)")
	fs.StringVar(&f.httpDebug, "http-debug", "", "log every HTTP request and response; headers only, or full with bodies")
	fs.Lookup("http-debug").NoOptDefVal = loadtest.HTTPDebugHeaders
	fs.StringVarP(&f.config, "config", "c", "", "scripts: k6's JSON config file, options under the script's own")
	fs.StringVar(&f.compatibilityMode, "compatibility-mode", "extended", "scripts: extended (adds the global \"global\") or base")

	fs.BoolVarP(&f.verbose, "verbose", "v", false, "debug logs")
	fs.StringVar(&f.logOutput, "log-output", "stderr", "where logs go: stderr, stdout, none or file=PATH")
	fs.StringVar(&f.consoleOutput, "console-output", "", "write the script's console output to FILE instead of the logs")

	fs.Int64Var(&f.rps, "rps", 0, "k6's global request rate limit: not implemented by loadlens; use an arrival-rate scenario")
	fs.Int64Var(&f.batch, "batch", 0, "k6's http.batch parallelism: loadlens reads it from the script's options only")
	fs.Int64Var(&f.batchPerHost, "batch-per-host", 0, "k6's http.batch parallelism per host: loadlens reads it from the script's options only")
	fs.StringVar(&f.dns, "dns", "", "k6's DNS resolver settings: not implemented by loadlens (the system resolver, cached per VU)")
	fs.BoolVarP(&f.paused, "paused", "p", false, "k6 starts paused for its REST API: loadlens has none and starts at once")
	fs.BoolVarP(&f.linger, "linger", "l", false, "k6 keeps its REST API up after the test: loadlens has none")
	fs.BoolVar(&f.noUsageReport, "no-usage-report", false, "accepted for k6 compatibility: loadlens never reports usage")
	fs.SetInterspersed(true)
	f.fs = fs
	return f
}

// ignoredFlags are k6 flags loadlens accepts without acting on them, with
// what to say when one is given (nothing for --no-usage-report: k6 users
// pass it everywhere, and loadlens never reports usage anyway).
var ignoredFlags = []struct{ name, warning string }{
	{"rps", "--rps is not implemented by loadlens and was ignored: for a request rate, use a constant-arrival-rate scenario"},
	{"batch", "--batch was ignored: loadlens reads http.batch's limits from the script's options (batch, batchPerHost)"},
	{"batch-per-host", "--batch-per-host was ignored: loadlens reads http.batch's limits from the script's options (batch, batchPerHost)"},
	{"dns", "--dns is not implemented by loadlens and was ignored: names resolve through the system resolver"},
	{"paused", "--paused was ignored: loadlens has no REST API to resume a test, so it starts at once"},
	{"linger", "--linger was ignored: loadlens has no REST API to keep up after the test"},
	{"no-usage-report", ""},
}

// ignoredWarnings are the warnings for the ignored k6 flags that were given.
func (f *runFlags) ignoredWarnings() []string {
	var out []string
	for _, ig := range ignoredFlags {
		if f.fs.Changed(ig.name) && ig.warning != "" {
			out = append(out, ig.warning)
		}
	}
	return out
}

// log is the logger of the run: runLogger's, or the default one.
func (f *runFlags) log(a *app) *slog.Logger {
	if f.logger != nil {
		return f.logger
	}
	return a.logger(f.quietLogs, f.logFormat)
}

// The values of --summary-mode, k6's.
const (
	summaryCompact  = "compact"
	summaryFull     = "full"
	summaryDisabled = "disabled"
)

// overrides returns the flags that were given as a k6 options layer, the
// one with the highest precedence.
func (f *runFlags) overrides() (loadtest.K6Options, error) {
	m := map[string]any{}
	changed := f.fs.Changed
	if changed("vus") {
		m["vus"] = f.vus
	}
	if changed("duration") {
		m["duration"] = f.duration
	}
	if changed("iterations") {
		m["iterations"] = f.iterations
	}
	var errs []string
	if changed("stage") {
		stages, bad := parseStages("--stage", f.stages)
		m["stages"], errs = stages, append(errs, bad...)
	}
	if changed("tag") {
		tags, err := keyValues("--tag", f.tags)
		if err != nil {
			errs = append(errs, err.Error())
		}
		m["tags"] = tags
	}
	if changed("summary-trend-stats") {
		m["summaryTrendStats"] = strings.Split(f.summaryTrendStats, ",")
	}
	if changed("no-thresholds") {
		m["noThresholds"] = f.noThresholds
	}
	if changed("execution-segment") {
		m["executionSegment"] = f.executionSegment
	}
	if changed("execution-segment-sequence") {
		m["executionSegmentSequence"] = f.executionSegmentSequence
	}
	if changed("no-setup") {
		m["noSetup"] = f.noSetup
	}
	if changed("no-teardown") {
		m["noTeardown"] = f.noTeardown
	}
	for _, o := range []struct {
		flag, option string
		value        any
	}{
		{"insecure-skip-tls-verify", "insecureSkipTLSVerify", f.insecureSkipTLSVerify},
		{"user-agent", "userAgent", f.userAgent},
		{"system-tags", "systemTags", f.systemTags},
		{"discard-response-bodies", "discardResponseBodies", f.discardResponseBodies},
		{"max-redirects", "maxRedirects", f.maxRedirects},
		{"no-connection-reuse", "noConnectionReuse", f.noConnectionReuse},
		{"no-vu-connection-reuse", "noVUConnectionReuse", f.noVUConnectionReuse},
		{"setup-timeout", "setupTimeout", f.setupTimeout},
		{"teardown-timeout", "teardownTimeout", f.teardownTimeout},
		{"min-iteration-duration", "minIterationDuration", f.minIterationDuration},
		{"blacklist-ip", "blacklistIPs", f.blacklistIPs},
	} {
		if changed(o.flag) {
			m[o.option] = o.value
		}
	}
	if changed("http-debug") {
		m["httpDebug"] = f.httpDebug // checked by the plan's validation, as the option
	}
	switch f.logFormat {
	case logFormatText, logFormatRaw, logFormatJSON:
	default:
		errs = append(errs, fmt.Sprintf("--log-format %q: want raw or json (or nothing, for k6's text lines)", f.logFormat))
	}
	switch f.compatibilityMode {
	case "extended", "base":
	default:
		errs = append(errs, fmt.Sprintf("--compatibility-mode %q: want extended or base", f.compatibilityMode))
	}
	switch f.summaryTimeUnit {
	case "", "s", "ms", "us":
	default:
		errs = append(errs, fmt.Sprintf("--summary-time-unit %q: want s, ms or us", f.summaryTimeUnit))
	}
	switch f.summaryMode {
	case summaryCompact, summaryFull, summaryDisabled:
	default:
		errs = append(errs, fmt.Sprintf("--summary-mode %q: want compact, full or disabled", f.summaryMode))
	}
	if !(f.targetCPUs >= 0) {
		errs = append(errs, fmt.Sprintf("--target-cpus: must be >= 0, got %v", f.targetCPUs))
	}
	return optionsLayer(m, errs)
}

// optionsLayer reads k6 options given by name, as DecodeK6Options does a
// script's, and reports its problems with the ones already found.
func optionsLayer(m map[string]any, errs []string) (loadtest.K6Options, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return loadtest.K6Options{}, err
	}
	var ps loadtest.Problems
	for _, e := range errs {
		ps = append(ps, loadtest.Problem{Message: e})
	}
	o, err := loadtest.DecodeK6Options(b)
	ps = append(ps, loadtest.ProblemsOf(err)...)
	if len(ps) > 0 {
		return o, ps
	}
	return o, nil
}

// parseStages reads DURATION:TARGET stages; each bad one is a problem
// named after where it came from.
func parseStages(from string, specs []string) ([]scenarios.Stage, []string) {
	var stages []scenarios.Stage
	var errs []string
	for _, s := range specs {
		st, err := scenarios.ParseStage(s)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s %q: %v", from, s, err))
			continue
		}
		stages = append(stages, st)
	}
	return stages, errs
}

// keyValues parses repeated K=V flags.
func keyValues(flagName string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	var bad []string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			bad = append(bad, fmt.Sprintf("%s %q: want KEY=VALUE", flagName, kv))
			continue
		}
		out[k] = v
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s", strings.Join(bad, "\n"))
	}
	return out, nil
}
