package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// scriptPlan builds the plan of a k6 script, with base (--config) under
// its own options and top (K6_* and the flags) over them (k6's
// precedence: config < script < environment < flags).
func (a *app) scriptPlan(ctx context.Context, src js.Source, base, top loadtest.K6Options, env map[string]string, f *runFlags) (loadtest.Plan, []string, error) {
	opts, system, err := a.scriptOptions(env, f)
	if err != nil {
		return loadtest.Plan{}, nil, err
	}
	if a.files != nil && src.Path != "" {
		src = js.Source{Path: fsName(src.Path), FS: a.files}
	}
	plan, _, warnings, err := js.Plan(ctx, src, base, top, opts)
	return recordEnv(plan, env, system), warnings, err
}

// scriptOptions are the script runtime's options for env and the flags;
// system is the part of opts.Env that came from the process environment
// (k6's --include-system-env-vars).
func (a *app) scriptOptions(env map[string]string, f *runFlags) (opts js.Options, system map[string]string, err error) {
	secrets, err := secretSources(f.secretSources)
	if f.includeSystemEnv {
		system = a.systemEnv()
	}
	return js.Options{Env: merge(system, env), Logger: f.log(a), Throw: f.throw, Modules: a.modules,
		Remote: a.remoteModules(f), Secrets: secrets, CompatibilityMode: f.compatibilityMode}, system, err
}

// recordEnv has a script's plan record only the environment the user
// passed (-e, the test file's env): its VUs still see the process's
// (__ENV holds both), but no Result, summary or report holds it.
func recordEnv(plan loadtest.Plan, env, system map[string]string) loadtest.Plan {
	plan.Env, plan.SystemEnv = merge(env, nil), system
	return plan
}

// secretSources reads the --secret-source flags; every bad one is a
// problem of the configuration.
func secretSources(specs []string) (js.Secrets, error) {
	s := js.Secrets{Sources: map[string]js.SecretSource{}}
	var errs []error
	for _, spec := range specs {
		name, src, isDefault, err := js.ParseSecretSource(spec, os.ReadFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Sources[name] = src
		if isDefault {
			s.Default = name
		}
	}
	if err := errors.Join(errs...); err != nil {
		return s, loadtest.Invalid(err)
	}
	return s, nil
}

// remoteModules fetches the remote modules of `run`'s scripts, through an
// on-disk cache; nil (refused) for the agent's.
func (a *app) remoteModules(f *runFlags) js.ModuleFetcher {
	if !f.remoteModules {
		return nil
	}
	dir := f.moduleCache
	if dir == "" {
		if home := a.getenv("XDG_CACHE_HOME"); home != "" {
			dir = filepath.Join(home, "loadlens", "modules")
		} else if home := a.getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".cache", "loadlens", "modules")
		}
	}
	return &js.RemoteModules{CacheDir: dir, Offline: f.offline}
}

// systemEnv is the process environment.
func (a *app) systemEnv() map[string]string {
	out := map[string]string{}
	for _, kv := range a.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// handleSummary runs the script's handleSummary, writes its files and
// prints its stdout and stderr. It reports whether the default summary is
// replaced (k6: when handleSummary returned something without "stdout",
// nothing is printed to stdout).
func (a *app) handleSummary(ctx context.Context, plan loadtest.Plan, res loadtest.Result, env loadtest.SummaryEnv) bool {
	prog, ok := plan.Program.(*js.Program)
	if !ok {
		return false
	}
	outputs, ok, err := prog.HandleSummary(ctx, loadtest.NewSummaryData(res, env))
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens: handleSummary: %v\n", err)
		return false
	}
	if !ok {
		return false
	}
	for name, content := range outputs {
		switch name {
		case "stdout":
			_, _ = a.stdout.Write(content)
		case "stderr":
			_, _ = a.stderr.Write(content)
		default:
			err := os.MkdirAll(filepath.Dir(name), 0o755)
			if err == nil {
				err = os.WriteFile(name, content, 0o644)
			}
			if err != nil {
				fmt.Fprintf(a.stderr, "loadlens: handleSummary: %v\n", err)
			}
		}
	}
	return true
}

// isScriptException reports whether err is an exception thrown by a k6
// script in its init code or setup.
func isScriptException(err error) bool { return errors.Is(err, js.ErrScript) }
