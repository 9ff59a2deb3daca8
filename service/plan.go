package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing/fstest"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// errInitTimeout ends a script's init code that runs past
// Config.InitTimeout.
var errInitTimeout = errors.New("init code ran too long")

// buildPlan turns a tenant's spec into a plan. A script runs sandboxed: it
// sees only the files uploaded with it (never the agent's file system),
// only the spec's env, remote modules only from the tenant's allowed hosts,
// and its init code runs within InitTimeout, in one of MaxConcurrentInits
// slots shared by every tenant.
func (s *Server) buildPlan(ctx context.Context, req startRequest, lim store.Limits) (loadtest.Plan, []string, error) {
	if !req.spec.HasScript() {
		return req.spec.Plan()
	}
	select {
	case s.initSlots <- struct{}{}:
		defer func() { <-s.initSlots }()
	case <-ctx.Done():
		return loadtest.Plan{}, nil, context.Cause(ctx)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.cfg.InitTimeout, errInitTimeout)
	defer cancel()
	var files fs.FS = req.files
	if req.files == nil {
		files = fstest.MapFS{}
	}
	plan, warnings, err := js.SpecPlan(ctx, req.spec, loadtest.K6Options{}, files,
		js.Options{Env: req.spec.Env, Remote: s.remoteModules(ctx, parseAllowlist(lim.AllowedHosts))})
	switch {
	case errors.Is(context.Cause(ctx), errInitTimeout):
		return loadtest.Plan{}, nil, invalid(fmt.Sprintf("script: its init code ran longer than %s (the agent's init_timeout); "+
			"move the work into setup() or the default function", s.cfg.InitTimeout))
	case errors.Is(err, js.ErrScript):
		return loadtest.Plan{}, nil, invalid(scriptProblems(err)...)
	case errors.Is(err, loadtest.ErrTestAborted):
		return loadtest.Plan{}, nil, invalid("script: test.abort() in its init code: " + err.Error())
	}
	return plan, warnings, err
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
