package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// errInitTimeout ends a script's init code that runs past
// Config.InitTimeout.
var errInitTimeout = errors.New("init code ran too long")

// prepared is a plan ready to run once it passed the tenant's limits: the
// plan (for a sandboxed script, its echo: what the checks and the run's time
// limit read) and how it runs.
type prepared struct {
	plan     loadtest.Plan
	warnings []string
	dial     dialRule // set once the limits passed
	// run runs the test to its end with the dial rule, reporting progress
	// to out and logging to logger.
	run func(ctx context.Context, out *liveRun, logger *slog.Logger, dial dialRule) (loadtest.Result, error)
	// discard releases what preparing took (a sandbox child) when the test
	// is not run.
	discard func()
}

// inProcess prepares a plan that runs in the agent's own process.
func inProcess(plan loadtest.Plan, warnings []string) prepared {
	return prepared{plan: plan, warnings: warnings, discard: func() {},
		run: func(ctx context.Context, out *liveRun, logger *slog.Logger, dial dialRule) (loadtest.Result, error) {
			plan.Logger = logger
			plan.Options.AllowIP = dial.allow()
			plan.Options.RedactURLs = true
			return loadtest.Run(ctx, plan, out)
		}}
}

// buildPlan turns a tenant's spec into a prepared plan. A script runs
// sandboxed: it sees only the files uploaded with it (never the agent's
// file system), only the spec's env, remote modules only from the tenant's
// allowed hosts, and its init code runs within InitTimeout, in one of
// MaxConcurrentInits slots shared by every tenant (a tenant holding at most
// half of them). With Config.Sandbox, it runs in a child process from its
// init code on. With Sandbox.Start (a pool of runners), every test runs
// in a child: the agent sends no load itself.
func (s *Server) buildPlan(ctx context.Context, tenant string, req startRequest, lim store.Limits) (prepared, error) {
	remote := s.cfg.Sandbox != nil && s.cfg.Sandbox.Start != nil
	if !req.spec.HasScript() && !remote {
		plan, warnings, err := req.spec.Plan()
		if err != nil {
			return prepared{}, err
		}
		return inProcess(plan, warnings), nil
	}
	for _, slots := range []chan struct{}{s.tenantInitSlots(tenant), s.initSlots} {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
		case <-ctx.Done():
			return prepared{}, context.Cause(ctx)
		}
	}
	if s.cfg.Sandbox != nil {
		return s.sandboxed(ctx, tenant, req, lim)
	}
	plan, warnings, err := scriptPlan(ctx, req, lim.AllowedHosts, s.cfg.InitTimeout, s)
	if err != nil {
		return prepared{}, err
	}
	return inProcess(plan, warnings), nil
}

// tenantInitSlots is a tenant's share of the init slots: half of them, at
// least one. A tenant whose init code spins (two starts of a regular
// expression bomb held both of a 2-core agent's slots) leaves the others
// a slot.
func (s *Server) tenantInitSlots(tenant string) chan struct{} {
	s.initsMu.Lock()
	defer s.initsMu.Unlock()
	slots := s.tenantInits[tenant]
	if slots == nil {
		slots = make(chan struct{}, max(1, cap(s.initSlots)/2))
		s.tenantInits[tenant] = slots
	}
	return slots
}

// scriptPlan runs a script's init code within initTimeout and builds its
// plan, in the agent or in a sandbox child; hosts checks remote modules'
// hosts and has the extension modules.
func scriptPlan(ctx context.Context, req startRequest, allowed []string, initTimeout time.Duration, hosts *Server) (loadtest.Plan, []string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, initTimeout, errInitTimeout)
	defer cancel()
	var files fs.FS = req.files
	if req.files == nil {
		files = fstest.MapFS{}
	}
	var remote js.ModuleFetcher = req.modules
	if req.modules == nil {
		remote = hosts.remoteModules(ctx, parseAllowlist(allowed))
	}
	plan, warnings, err := js.SpecPlan(ctx, req.spec, loadtest.K6Options{}, files,
		js.Options{Env: req.spec.Env, Modules: hosts.cfg.Modules, Remote: remote})
	switch {
	case errors.Is(context.Cause(ctx), errInitTimeout):
		return loadtest.Plan{}, nil, initTimeoutProblem(initTimeout)
	case errors.Is(err, js.ErrScript):
		return loadtest.Plan{}, nil, invalid(scriptProblems(err)...)
	case errors.Is(err, loadtest.ErrTestAborted):
		return loadtest.Plan{}, nil, invalid("script: test.abort() in its init code: " + err.Error())
	}
	return plan, warnings, err
}

// initTimeoutProblem is the 400 of a script whose init code ran past
// init_timeout.
func initTimeoutProblem(initTimeout time.Duration) error {
	return invalid(fmt.Sprintf("script: its init code ran longer than %s (the agent's init_timeout); "+
		"move the work into setup() or the default function", initTimeout))
}

// scriptProblems turns a script error into the lines of a 400: the error
// with its file:line:column, then the script's stack.
func scriptProblems(err error) []string {
	var se *js.ScriptError
	if !errors.As(err, &se) { // a module that cannot be resolved: "script error: init: script error: import …"
		msg := strings.ReplaceAll(err.Error(), js.ErrScript.Error()+": ", "")
		return []string{"script: " + strings.TrimPrefix(msg, "init: ")}
	}
	out := []string{"script: " + se.Error()}
	for line := range strings.SplitSeq(se.Stack, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, "script: "+line)
		}
	}
	return out
}

// remoteModules fetches a tenant's remote modules (import "https://…")
// only from its allowed hosts, with the same address rules as its runs'
// connections: a name's addresses are resolved when the URL is checked, and
// the connection may go only to those or to allowed prefixes, so a name
// that re-resolves to an internal address is refused. Nothing is cached on
// the agent's disk.
func (s *Server) remoteModules(ctx context.Context, a allowlist) *js.RemoteModules {
	var mu sync.Mutex
	resolved := map[netip.Addr]bool{}
	return &js.RemoteModules{
		AllowURL: func(u *url.URL) error {
			if problem := s.checkHost(ctx, a, "import", u.String()); problem != "" {
				return errors.New(problem)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ip := range s.resolveAllowed(ctx, a, u.Hostname()) {
				resolved[ip] = true
			}
			return nil
		},
		AllowIP: func(ip netip.Addr) bool {
			mu.Lock()
			defer mu.Unlock()
			return a.dialAllowed(ip) || resolved[ip.Unmap()]
		},
	}
}
