package js_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// FuzzLoad feeds arbitrary scripts to Load: it must return a program or an
// error, never panic or hang (init code is bounded by its context).
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{filepath.Join(groundTruth, "scripts"), filepath.Join("testdata", "features")} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.js"))
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	for _, s := range []string{
		"export default function () {}",
		"export const options = { vus: -1 };",
		"export const options = { thresholds: { x: 5 } };",
		"export const options = 5; export default 1;",
		"import http from 'k6/http'; http.get('x');",
		"import { a } from './nope.js';",
		"export const options = { scenarios: { a: { executor: 'bogus' } } };",
		"let x = ;",
		"for (;;) {}",
		"export const options = { get vus() { throw new Error('no'); } };",
		"await new Promise(() => {});",
		"throw 5;",
		"export const options = { handleSummaryTimeout: 'x', throw: 'y', batch: -1 };",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, code []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		prog, err := js.Load(ctx, js.Source{Code: code}, js.Options{})
		if err != nil {
			if prog != nil {
				t.Fatalf("a program and an error: %v", err)
			}
			return
		}
		_ = prog.Options()
		_ = prog.Execs()
		var plan loadtest.Plan
		_, _ = prog.Options().Apply(&plan)
	})
}
