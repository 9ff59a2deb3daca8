package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/store"
)

// Config configures a Server. Store is required; every other zero field
// means its documented default.
type Config struct {
	// Store keeps tenants, runs and the audit log. Required. The Server does
	// not close it.
	Store *store.Store
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger

	// Limits are the defaults of every tenant's limits (a tenant's own
	// non-zero limits win). Zero fields mean DefaultLimits' values.
	Limits store.Limits

	// Analyze reads a finished run: findings and, optionally, an AI
	// analysis (nil for none). history holds earlier completed runs of the
	// same test (tenant, name and test type), oldest first; base is the
	// run's baseline (store.Baseline, the run GET
	// /load-test/{id}/compare/baseline compares with), nil when it has
	// none. ctx ends when the Server shuts down. nil means anomaly.Analyze
	// with default options and no AI analysis.
	Analyze func(ctx context.Context, res loadtest.Result, history []loadtest.Result, base *loadtest.Result) (anomaly.Report, *anomaly.AIAnalysis)
	// RenderHTML writes a run's self-contained HTML report for GET
	// /load-test/{id}/report.html, with its history (the last HistorySize
	// completed runs of the same test); nil means report.WriteHTML.
	RenderHTML func(w io.Writer, in report.Input) error

	// Webhooks receive alerts when runs end: every tenant's, or those of
	// their Tenants. A tenant's own webhooks, kept in the Store, receive its
	// alerts besides; they are read when each run ends.
	Webhooks []Webhook
	// HTTPClient sends webhooks; nil means a client with a 10s timeout.
	HTTPClient *http.Client

	// LookupHost resolves target host names for the host allowlist; nil
	// means net.DefaultResolver.LookupNetIP.
	LookupHost func(ctx context.Context, host string) ([]netip.Addr, error)

	// HistorySize is how many earlier runs of the same test Analyze gets;
	// default 20.
	HistorySize int
	// MaxStoredBytes is each tenant's storage quota: a start is refused
	// (403, max_storage) while the tenant's runs take more in the database
	// (DELETE /load-test/{id} frees it); default 1 GiB.
	MaxStoredBytes int64
	// MaxBodyBytes bounds JSON request bodies; default 1 MiB.
	MaxBodyBytes int64
	// MaxUploadBytes bounds a multipart POST /load-test/start (the spec and
	// the script's files); default 10 MiB. MaxUploadFiles bounds its
	// files; default 200.
	MaxUploadBytes int64
	MaxUploadFiles int

	// InitTimeout bounds a script's init code when a test starts (the
	// agent runs it to read the script's options before checking limits);
	// default 10s. Past it the start answers 400.
	InitTimeout time.Duration
	// MaxConcurrentInits bounds how many scripts run their init code at
	// once, across tenants; default GOMAXPROCS. A start waits for a slot;
	// a tenant may hold half of them (at least one).
	MaxConcurrentInits int
	// Modules are the k6/x/ extensions tenants' scripts may import (a
	// custom binary's); with a Sandbox, its child must have the same.
	Modules map[string]js.Module
	// Sandbox, when set, runs tenant scripts in child processes with their
	// own memory limit and a lower CPU priority (`loadlens serve` does).
	// nil runs them in the agent's process: fine for one's own scripts,
	// but a hostile script can then exhaust the agent's memory.
	Sandbox *Sandbox
	// MaxSchedules bounds a tenant's schedules; default 100.
	MaxSchedules int
	// SchedulePoll is how often the agent looks for due schedule slots;
	// default 1s. Negative: never by itself (call Server.RunSchedules).
	SchedulePoll time.Duration
	// Now is the clock of schedules; nil means time.Now.
	Now func() time.Time
	// Replica names this agent among several on one store (logs, slot
	// claims, run ownership); default the host name and process ID.
	Replica string

	// Heartbeat is how often the agent tells the store that its runs are
	// alive, with their progress for other replicas, and learns of cancels
	// asked on them; default 2s.
	Heartbeat time.Duration
	// StaleAfter is how long a run's heartbeat may be missing before
	// another replica on the same PostgreSQL database marks it
	// interrupted (its agent died); default 15s.
	StaleAfter time.Duration

	// RunSlack is how long a run may exceed its plan's maximum duration
	// (setup, teardown, the end of iterations) before it is stopped as
	// failed; default 2m.
	RunSlack time.Duration
}

// DefaultLimits are the limits of a tenant when neither the tenant nor
// Config.Limits set them: 50 VUs, 1 hour (gracefulStop and k6's 10-minute
// default maxDuration of iteration-based tests included), 2 tests at once,
// loopback targets only (the demo configuration).
var DefaultLimits = store.Limits{
	MaxVUs:        50,
	MaxDuration:   time.Hour,
	MaxConcurrent: 2,
	AllowedHosts:  []string{"127.0.0.0/8", "::1/128", "localhost"},
}

// mergeLimits returns l with its zero fields taken from def.
func mergeLimits(l, def store.Limits) store.Limits {
	if l.MaxVUs == 0 {
		l.MaxVUs = def.MaxVUs
	}
	if l.MaxDuration == 0 {
		l.MaxDuration = def.MaxDuration
	}
	if l.MaxConcurrent == 0 {
		l.MaxConcurrent = def.MaxConcurrent
	}
	if len(l.AllowedHosts) == 0 {
		l.AllowedHosts = def.AllowedHosts
	}
	return l
}

func (c *Config) withDefaults() (Config, error) {
	if c.Store == nil {
		return Config{}, errors.New("service: Config.Store is required")
	}
	o := *c
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Limits = mergeLimits(o.Limits, DefaultLimits)
	if o.Analyze == nil {
		o.Analyze = func(_ context.Context, res loadtest.Result, history []loadtest.Result, _ *loadtest.Result) (anomaly.Report, *anomaly.AIAnalysis) {
			return anomaly.Analyze(res, history, anomaly.Options{}), nil
		}
	}
	if o.RenderHTML == nil {
		o.RenderHTML = report.WriteHTML
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.LookupHost == nil {
		o.LookupHost = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if o.HistorySize <= 0 {
		o.HistorySize = 20
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxStoredBytes <= 0 {
		o.MaxStoredBytes = 1 << 30
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 10 << 20
	}
	if o.MaxUploadFiles <= 0 {
		o.MaxUploadFiles = 200
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	if o.MaxConcurrentInits <= 0 {
		o.MaxConcurrentInits = runtime.GOMAXPROCS(0)
	}
	sb, err := c.Sandbox.withDefaults()
	if err != nil {
		return Config{}, err
	}
	o.Sandbox = sb
	if o.MaxSchedules <= 0 {
		o.MaxSchedules = 100
	}
	if o.SchedulePoll == 0 {
		o.SchedulePoll = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Replica == "" {
		host, _ := os.Hostname()
		o.Replica = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 2 * time.Second
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = 15 * time.Second
	}
	if o.RunSlack <= 0 {
		o.RunSlack = 2 * time.Minute
	}
	var errs []error
	o.Webhooks = slices.Clone(c.Webhooks)
	for i := range o.Webhooks {
		w, err := withDefaults(o.Webhooks[i], fmt.Sprintf("webhooks[%d]", i))
		errs = append(errs, err)
		o.Webhooks[i] = w
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return o, nil
}
