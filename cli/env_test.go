package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The process environment never reaches a report: the result, the HTML
// report, JUnit and the summary export hold only what the user passed
// (-e, the test file's env), redacted by name and by shape, while the
// script still sees the system environment in __ENV.
func TestReportsHoldOnlyThePassedEnvironment(t *testing.T) {
	t.Parallel()
	const canary = "postgres://leak:canary-pw@db.internal/prod"
	dir := t.TempDir()
	result, html, junit, export := filepath.Join(dir, "result.json"), filepath.Join(dir, "report.html"),
		filepath.Join(dir, "junit.xml"), filepath.Join(dir, "summary.json")
	script := writeFile(t, "env.js", `import { check } from 'k6';
export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(__ENV, {
    'the system environment is in __ENV': (e) => e.LOADLENS_LEAK_CANARY === '`+canary+`',
    '-e is in __ENV': (e) => e.PLAIN === 'visible',
  });
}`)
	r := runCLIWith(t, cliInput{env: []string{"LOADLENS_LEAK_CANARY=" + canary}},
		"run", "-q", "--result", result, "--report", html, "--junit", junit, "--summary-export", export,
		"-e", "PLAIN=visible",
		"-e", "DSN=postgres://u:pw@h/db", // secret by name
		"-e", "DATABASE_URL=postgres://u:pw@h/db", // by shape: URL userinfo
		"-e", "HEADER=Bearer abcdefgh12345678", // by shape: a bearer token
		script)
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)

	for _, file := range []string{result, html, junit, export} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, leak := range []string{"LOADLENS_LEAK_CANARY", "canary-pw", "u:pw@", "abcdefgh12345678", os.Getenv("PATH")} {
			assert.False(t, strings.Contains(string(b), leak), "%s leaks %q", filepath.Base(file), leak)
		}
	}
	b, err := os.ReadFile(result)
	require.NoError(t, err)
	var doc struct {
		Result struct {
			Config struct {
				Env map[string]string `json:"env"`
			} `json:"config"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	got, err := json.MarshalIndent(doc.Result.Config.Env, "", "  ")
	require.NoError(t, err)
	golden := filepath.Join("testdata", "report-env.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, append(got, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
}
