package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

// k6's exit codes for scripts, with the ground truth's scripts.
func TestRunScriptExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, script string
		code         int
		stderr       string
	}{
		{"noop.js", `export default function () {}`, 0, ""},
		{"initerr.js", "throw new Error('boom');\nexport default function () {}", 107, "boom"},
		{"abort.js", "import exec from 'k6/execution';\nexport default function () { exec.test.abort('bye'); }", 108, ""},
		{"abort in init", "import exec from 'k6/execution';\nexec.test.abort('not ready');\nexport default function () {}", 108, "not ready"},
		{"fail.js", "import exec from 'k6/execution';\nexport default function () { exec.test.fail('marked'); }", 110, ""},
		{"setup throws", "export function setup() { throw new Error('no token'); }\nexport default function () {}", 107, "no token"},
		{"badthr.js", "export const options = { thresholds: { nonexistent_metric: ['count>1'] } };\nexport default function () {}", 104, "nonexistent_metric"},
		{"badthr2.js", "export const options = { thresholds: { http_reqs: ['p(95)<1'] } };\nexport default function () {}", 104, "http_reqs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "run", "-q", writeFile(t, "script.js", tt.script))
			assert.Equal(t, tt.code, r.code, "stderr:\n%s", r.stderr)
			assert.Contains(t, r.stderr, tt.stderr)
		})
	}
}

func TestRunScriptHandleSummaryAndEnv(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	dir := t.TempDir()
	out := filepath.Join(dir, "reports", "hs.json") // a folder that does not exist yet
	script := `import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 2, iterations: 6, thresholds: { checks: ['rate==1'] } };
export default function () { check(http.get(__ENV.BASE + '/'), { 'status is 200': (r) => r.status === 200 }); }
export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify({ reqs: data.metrics.http_reqs.values.count, ok: data.metrics.checks.thresholds['rate==1'].ok }),
           stdout: 'handleSummary done\n' };
}`
	r := runCLI(t, "run", "-e", "BASE="+srv.URL(), "-e", "OUT="+out, writeFile(t, "hs.js", script))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "handleSummary done")
	assert.NotContains(t, r.stdout, "█ TOTAL RESULTS", "handleSummary replaces the default summary")
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.JSONEq(t, `{"reqs": 6, "ok": true}`, string(b))

	// A test file may carry the script; its options sit above the script's.
	spec := `{"test_type": "custom", "script": "import http from 'k6/http';\nexport const options = { vus: 1, iterations: 2 };\nexport default function () { http.get(__ENV.BASE + '/'); }",
		"options": {"iterations": 5}, "env": {"BASE": "` + srv.URL() + `"}}`
	summary := filepath.Join(dir, "summary.json")
	r = runCLI(t, "run", "-q", "--summary-export", summary, writeFile(t, "spec.json", spec))
	require.Equal(t, 0, r.code, r.stderr)
	b, err = os.ReadFile(summary)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"count": 5`)
}
