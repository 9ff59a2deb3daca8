package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// ErrInvalidPlan is wrapped by every error of Plan.Validate.
var ErrInvalidPlan = errors.New("invalid plan")

// Plan is one test: the scenarios to run, the code VUs run, thresholds and
// options. Build it in Go, or decode k6 options JSON with [DecodeK6Options].
type Plan struct {
	Name     string `json:"name,omitempty"`
	TestType string `json:"test_type,omitempty"`
	// Scenarios maps scenario names to executor configs.
	Scenarios  scenarios.Scenarios `json:"scenarios"`
	Thresholds metrics.Thresholds  `json:"thresholds,omitempty"`
	Options    Options             `json:"options"`
	// Metrics declares custom metrics, so that thresholds may name them and
	// VUs may Add to them.
	Metrics []metrics.Metric `json:"metrics,omitempty"`
	// Env is the environment VUs see (k6's __ENV); scenarios add theirs.
	// It is what the user passed (-e, a test file's env): a Result's config
	// records it, redacted.
	Env map[string]string `json:"env,omitempty"`
	// SystemEnv is the process environment VUs see under Env (k6's
	// --include-system-env-vars). It is never recorded: no Result, summary
	// or report holds it.
	SystemEnv map[string]string `json:"-"`
	// Target is a request plan: what VUs run when Program is nil.
	Target *Target `json:"target,omitempty"`
	// Telemetry names the target's own telemetry sources, read during the
	// run into target.* series and Result.Target; nil reads none.
	Telemetry *Telemetry `json:"telemetry,omitempty"`
	// Program is the code VUs run; it takes precedence over Target.
	Program Program `json:"-"`
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger `json:"-"`
	// Gate, when set, makes this run one generator's share of a
	// distributed run; Remote makes it the coordinator (see [Gate],
	// [Remote]). A plan sets at most one of them.
	Gate   Gate   `json:"-"`
	Remote Remote `json:"-"`
}

// Options are k6's engine options. The zero value is k6's defaults.
type Options struct {
	// Tags are added to every sample.
	Tags map[string]string
	// SummaryTrendStats are the trend aggregations summaries show; default
	// avg, min, med, max, p(90), p(95).
	SummaryTrendStats []string
	// DiscardResponseBodies drops response bodies unless a request asks.
	DiscardResponseBodies bool
	// NoConnectionReuse opens a new connection for every request.
	NoConnectionReuse bool
	// NoVUConnectionReuse closes a VU's connections after each iteration.
	NoVUConnectionReuse bool
	// NoCookiesReset keeps a VU's cookies from one iteration to the next;
	// by default, as in k6, every iteration starts with an empty jar.
	NoCookiesReset bool
	// UserAgent is sent with every request that sets none (k6's userAgent,
	// --user-agent); nil means k6http.DefaultUserAgent, "" sends none.
	UserAgent *string
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// MaxRedirects limits redirects followed per request; nil means 10.
	MaxRedirects *int
	// SetupTimeout and TeardownTimeout bound setup and teardown; default 60 s.
	SetupTimeout    time.Duration
	TeardownTimeout time.Duration
	// MinIterationDuration pads shorter iterations with a sleep.
	MinIterationDuration time.Duration
	// SystemTags lists the system tags samples carry; nil means k6's default
	// set. "vu" and "iter" are written as sample metadata.
	SystemTags []string
	// ExecutionSegment and ExecutionSegmentSequence select this generator's
	// share of the test (k6 --execution-segment, e.g. "1/3:2/3").
	ExecutionSegment         string
	ExecutionSegmentSequence string
	// NoThresholds disables thresholds (k6 --no-thresholds).
	NoThresholds bool
	// NoSetup and NoTeardown skip setup and teardown.
	NoSetup    bool
	NoTeardown bool
	// HTTPDebug logs every HTTP request and response at info level, as
	// k6's httpDebug: "headers" (the heads) or "full" (bodies too); ""
	// logs none.
	HTTPDebug string
	// BlacklistIPs are CIDR ranges requests may not connect to (k6's
	// blacklistIPs); such requests fail with error code 1110.
	BlacklistIPs []string
	// TLSVersion limits the TLS versions requests offer (k6's tlsVersion:
	// "tls1.2", or {"min": "tls1.2", "max": "tls1.3"}); nil means Go's
	// defaults from TLS 1.2.
	TLSVersion *TLSVersion
	// TLSCipherSuites are the cipher suites TLS 1.0–1.2 connections may use,
	// by Go's (and k6's) names such as
	// "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"; nil means Go's defaults.
	// TLS 1.3's suites are not configurable, in Go as in k6.
	TLSCipherSuites []string
	// TLSAuth are client certificates, each sent to the servers of its
	// domains (k6's tlsAuth).
	TLSAuth []TLSAuth
	// AllowIP, when set, must approve every address a request connects to
	// (checked at dial time, after DNS); it is not serialised. The agent
	// uses it to hold its host allowlist for URLs scripts build at run time.
	AllowIP func(netip.Addr) bool
	// RedactURLs hides URL passwords and the values of secret-looking
	// query parameters in the url and name tags of requests, and secrets
	// in their error tags, so that what a script built from a secret is
	// not recorded; not serialised. The agent sets it: it stores results.
	RedactURLs bool `json:"-"`
}

// The values of Options.HTTPDebug, k6's.
const (
	HTTPDebugHeaders = "headers"
	HTTPDebugFull    = "full"
)

// Default durations of setup and teardown, as k6.
const (
	DefaultSetupTimeout    = 60 * time.Second
	DefaultTeardownTimeout = 60 * time.Second
)

type optionsJSON struct {
	Tags                     map[string]string  `json:"tags,omitempty"`
	SummaryTrendStats        []string           `json:"summaryTrendStats,omitempty"`
	DiscardResponseBodies    bool               `json:"discardResponseBodies,omitempty"`
	NoConnectionReuse        bool               `json:"noConnectionReuse,omitempty"`
	NoVUConnectionReuse      bool               `json:"noVUConnectionReuse,omitempty"`
	NoCookiesReset           bool               `json:"noCookiesReset,omitempty"`
	UserAgent                *string            `json:"userAgent,omitempty"`
	InsecureSkipTLSVerify    bool               `json:"insecureSkipTLSVerify,omitempty"`
	MaxRedirects             *int               `json:"maxRedirects,omitempty"`
	SetupTimeout             *duration.Duration `json:"setupTimeout,omitempty"`
	TeardownTimeout          *duration.Duration `json:"teardownTimeout,omitempty"`
	MinIterationDuration     *duration.Duration `json:"minIterationDuration,omitempty"`
	SystemTags               []string           `json:"systemTags,omitempty"`
	ExecutionSegment         string             `json:"executionSegment,omitempty"`
	ExecutionSegmentSequence string             `json:"executionSegmentSequence,omitempty"`
	NoThresholds             bool               `json:"noThresholds,omitempty"`
	NoSetup                  bool               `json:"noSetup,omitempty"`
	NoTeardown               bool               `json:"noTeardown,omitempty"`
	BlacklistIPs             []string           `json:"blacklistIPs,omitempty"`
	TLSVersion               *TLSVersion        `json:"tlsVersion,omitempty"`
	TLSCipherSuites          []string           `json:"tlsCipherSuites,omitempty"`
	TLSAuth                  []TLSAuth          `json:"tlsAuth,omitempty"`
	HTTPDebug                string             `json:"httpDebug,omitempty"`
}

func optDuration(d time.Duration) *duration.Duration {
	if d == 0 {
		return nil
	}
	v := duration.Duration(d)
	return &v
}

// MarshalJSON writes the options with k6's names and duration strings.
func (o Options) MarshalJSON() ([]byte, error) {
	return json.Marshal(optionsJSON{
		Tags: o.Tags, SummaryTrendStats: o.SummaryTrendStats, DiscardResponseBodies: o.DiscardResponseBodies,
		NoConnectionReuse: o.NoConnectionReuse, NoVUConnectionReuse: o.NoVUConnectionReuse,
		NoCookiesReset: o.NoCookiesReset, UserAgent: o.UserAgent,
		InsecureSkipTLSVerify: o.InsecureSkipTLSVerify, MaxRedirects: o.MaxRedirects,
		SetupTimeout: optDuration(o.SetupTimeout), TeardownTimeout: optDuration(o.TeardownTimeout),
		MinIterationDuration: optDuration(o.MinIterationDuration), SystemTags: o.SystemTags,
		ExecutionSegment: o.ExecutionSegment, ExecutionSegmentSequence: o.ExecutionSegmentSequence,
		NoThresholds: o.NoThresholds, NoSetup: o.NoSetup, NoTeardown: o.NoTeardown, BlacklistIPs: o.BlacklistIPs,
		TLSVersion: o.TLSVersion, TLSCipherSuites: o.TLSCipherSuites, TLSAuth: o.TLSAuth,
		HTTPDebug: o.HTTPDebug,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (o *Options) UnmarshalJSON(b []byte) error {
	var j optionsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	get := func(d *duration.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return time.Duration(*d)
	}
	*o = Options{
		Tags: j.Tags, SummaryTrendStats: j.SummaryTrendStats, DiscardResponseBodies: j.DiscardResponseBodies,
		NoConnectionReuse: j.NoConnectionReuse, NoVUConnectionReuse: j.NoVUConnectionReuse,
		NoCookiesReset: j.NoCookiesReset, UserAgent: j.UserAgent,
		InsecureSkipTLSVerify: j.InsecureSkipTLSVerify, MaxRedirects: j.MaxRedirects,
		SetupTimeout: get(j.SetupTimeout), TeardownTimeout: get(j.TeardownTimeout),
		MinIterationDuration: get(j.MinIterationDuration), SystemTags: j.SystemTags,
		ExecutionSegment: j.ExecutionSegment, ExecutionSegmentSequence: j.ExecutionSegmentSequence,
		NoThresholds: j.NoThresholds, NoSetup: j.NoSetup, NoTeardown: j.NoTeardown, BlacklistIPs: j.BlacklistIPs,
		TLSVersion: j.TLSVersion, TLSCipherSuites: j.TLSCipherSuites, TLSAuth: j.TLSAuth,
		HTTPDebug: j.HTTPDebug,
	}
	return nil
}

// trendStats returns the summary's trend aggregations.
func (o Options) trendStats() ([]metrics.Aggregation, error) {
	if len(o.SummaryTrendStats) == 0 {
		return metrics.DefaultTrendStats(), nil
	}
	return metrics.ParseTrendStats(o.SummaryTrendStats)
}

// ExecutionTuple returns this generator's share of the test; nil is all of it.
func (o Options) ExecutionTuple() (*scenarios.ExecutionTuple, error) {
	if o.ExecutionSegment == "" && o.ExecutionSegmentSequence == "" {
		return nil, nil
	}
	var seg *scenarios.ExecutionSegment
	if o.ExecutionSegment != "" {
		s, err := scenarios.ParseExecutionSegment(o.ExecutionSegment)
		if err != nil {
			return nil, fmt.Errorf("options.executionSegment: %w", err)
		}
		seg = s
	}
	var seq scenarios.ExecutionSegmentSequence
	if o.ExecutionSegmentSequence != "" {
		s, err := scenarios.ParseExecutionSegmentSequence(o.ExecutionSegmentSequence)
		if err != nil {
			return nil, fmt.Errorf("options.executionSegmentSequence: %w", err)
		}
		seq = s
	}
	et, err := scenarios.NewExecutionTuple(seg, seq)
	if err != nil {
		return nil, fmt.Errorf("options.executionSegment: %w", err)
	}
	return et, nil
}

// registry returns a registry with the built-in and the plan's metrics.
func (p Plan) registry() (*metrics.Registry, error) {
	reg := metrics.NewRegistry()
	var errs []error
	for i, m := range p.Metrics {
		if _, err := reg.Register(m.Name, m.Type, m.Contains); err != nil {
			errs = append(errs, fmt.Errorf("metrics[%d]: %w", i, err))
		}
	}
	return reg, errors.Join(errs...)
}

// Redacted replaces secret values (internal/redact's placeholder, for
// users of this package).
const Redacted = redact.Placeholder

// Validate reports every problem of the plan at once, each naming its
// field, wrapped in ErrInvalidPlan.
func (p Plan) Validate() error {
	var errs []error
	if len(p.Scenarios) == 0 {
		errs = append(errs, errors.New("scenarios: at least one scenario is required"))
	}
	if err := p.Scenarios.Validate(); err != nil {
		errs = append(errs, err)
	}
	reg, err := p.registry()
	if err != nil {
		errs = append(errs, err)
	}
	if !p.Options.NoThresholds && len(p.Thresholds) > 0 {
		if _, err := metrics.NewEvaluator(p.Thresholds, reg); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := p.Options.trendStats(); err != nil {
		errs = append(errs, fmt.Errorf("options.%w", err))
	}
	if _, err := p.Options.ExecutionTuple(); err != nil {
		errs = append(errs, err)
	}
	for name, d := range map[string]time.Duration{"setupTimeout": p.Options.SetupTimeout,
		"teardownTimeout": p.Options.TeardownTimeout, "minIterationDuration": p.Options.MinIterationDuration} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("options.%s: must be >= 0, got %s", name, d))
		}
	}
	if _, err := p.Options.blacklist(); err != nil {
		errs = append(errs, err)
	}
	if ho, err := p.Options.httpOptions(); err != nil {
		errs = append(errs, err)
	} else if c, err := k6http.NewClient(metrics.NewRegistry(), nil, ho); err != nil {
		errs = append(errs, fmt.Errorf("options: %w", err))
	} else {
		_ = c.Close()
	}
	if p.Options.MaxRedirects != nil && *p.Options.MaxRedirects < 0 {
		errs = append(errs, fmt.Errorf("options.maxRedirects: must be >= 0, got %d", *p.Options.MaxRedirects))
	}
	switch p.Options.HTTPDebug {
	case "", HTTPDebugHeaders, HTTPDebugFull:
	default:
		errs = append(errs, fmt.Errorf("options.httpDebug: want %q or %q, got %q", HTTPDebugHeaders, HTTPDebugFull, p.Options.HTTPDebug))
	}
	switch {
	case p.Program == nil && p.Target == nil:
		errs = append(errs, errors.New("program: a Program or a Target is required"))
	case p.Program == nil:
		if err := p.Target.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Telemetry != nil {
		if err := p.Telemetry.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Gate != nil && p.Remote != nil {
		errs = append(errs, errors.New("plan: a run is a generator (Gate) or a coordinator (Remote), not both"))
	}
	errs = append(errs, p.validateExecs()...)
	if err := errors.Join(errs...); err != nil {
		return Invalid(err)
	}
	return nil
}

// validateExecs checks that each scenario's exec function exists, when the
// program lists them.
func (p Plan) validateExecs() []error {
	var prog any = p.Program
	if p.Program == nil {
		prog = p.Target
	}
	lister, ok := prog.(ExecLister)
	if !ok {
		return nil
	}
	execs := lister.Execs()
	var errs []error
	for _, name := range p.Scenarios.Sorted() {
		if exec := p.Scenarios[name].Base().ExecOrDefault(); !slices.Contains(execs, exec) {
			errs = append(errs, fmt.Errorf("scenarios.%s.exec: no function %q; have %v", name, exec, execs))
		}
	}
	return errs
}

// PlanEcho is a plan as a Result records it: plain data, secrets redacted.
type PlanEcho struct {
	Name       string              `json:"name,omitempty"`
	TestType   string              `json:"test_type,omitempty"`
	Scenarios  scenarios.Scenarios `json:"scenarios"`
	Thresholds metrics.Thresholds  `json:"thresholds,omitempty"`
	Options    Options             `json:"options"`
	Metrics    []metrics.Metric    `json:"metrics,omitempty"`
	Env        map[string]string   `json:"env,omitempty"`
	Target     *Target             `json:"target,omitempty"`
	Telemetry  *Telemetry          `json:"telemetry,omitempty"`
}

// Echo returns the plan as plain data with secrets redacted: the target's
// auth token and secret-looking headers, and env values whose names look
// secret.
func (p Plan) Echo() PlanEcho {
	e := PlanEcho{Name: p.Name, TestType: p.TestType, Scenarios: p.Scenarios, Thresholds: p.Thresholds,
		Options: p.Options, Metrics: p.Metrics}
	if len(p.Env) > 0 {
		e.Env = redact.Map(p.Env)
	}
	if p.Target != nil {
		t := p.Target.Redacted()
		e.Target = &t
	}
	if p.Telemetry != nil {
		t := p.Telemetry.Redacted()
		e.Telemetry = &t
	}
	return e
}
