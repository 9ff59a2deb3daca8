package cli

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

// run --budget is a CI gate: a breach exits non-zero and names the budget,
// a pass exits 0; a bad budget file costs no test.
func TestRunBudget(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	test := writeFile(t, "t.json", testFile(srv.URL(), ""))
	base := filepath.Join(t.TempDir(), "base.json")
	pass := writeFile(t, "pass.json", `{"thresholds": {"http_req_duration": ["p(95)<60000"]}, "baseline": {"http_reqs": ["count>=0.5"]}}`)
	r := runCLI(t, "run", "-q", "--budget", pass, "--result", base, test)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "BUDGETS PASSED")
	assert.Contains(t, r.stdout, "not checked: the test has no baseline yet")

	r = runCLI(t, "run", "-q", "--budget", pass, "--budget-baseline", base, test)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "✓ http_reqs: count>=0.5 × baseline")

	breach := writeFile(t, "breach.json", `{"thresholds": {"http_req_duration": ["max<0"]}, "baseline": {"http_reqs": ["count>=3"]}}`)
	r = runCLI(t, "run", "-q", "--budget", breach, "--budget-baseline", base, test)
	assert.Equal(t, exitThresholds, r.code, r.stderr)
	assert.Contains(t, r.stdout, "BUDGETS BREACHED")
	assert.Contains(t, r.stderr, "budgets breached: http_req_duration: max<0; http_reqs: count>=3 × baseline")

	bad := writeFile(t, "bad.json", `{"thresholds": {"http_req_duration": ["p(95)<<1"]}, "no_findings": "dire"}`)
	r = runCLI(t, "run", "-q", "--budget", bad, test)
	assert.Equal(t, exitInvalidConfig, r.code)
	assert.Contains(t, r.stderr, "thresholds.http_req_duration[0]")
	assert.Contains(t, r.stderr, "no_findings: want")
	assert.NotContains(t, r.stdout, "http_req_duration", "no test ran")
}
