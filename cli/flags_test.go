package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

// A bad flag or value on any command prints pflag's error and the
// command's usage; --help prints the usage on stdout.
func TestFlagErrorsAreShown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args  []string
		error string
	}{
		{[]string{"run", "--bogus", "x.js"}, "unknown flag: --bogus"},
		{[]string{"run", "-u", "abc", "x.js"}, `invalid argument "abc" for "-u, --vus" flag`},
		{[]string{"demo", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"demo", "extra"}, ""},
		{[]string{"target", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"report", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"compare", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"serve", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"tenant", "list", "--bogus"}, "unknown flag: --bogus"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, tt.args...)
			assert.Equal(t, 2, r.code)
			assert.Contains(t, r.stderr, "loadlens "+tt.args[0]+": "+tt.error)
			assert.Contains(t, r.stderr, "Usage: loadlens "+tt.args[0])
		})
	}
	for _, args := range [][]string{{"serve", "--sandbox-nice", "0"}, {"runner", "--pool", "--nats", "nats://127.0.0.1:1", "--sandbox-nice", "20"}} {
		r := runCLI(t, args...)
		assert.Equal(t, 2, r.code, args)
		assert.Contains(t, r.stderr, "loadlens "+args[0]+": --sandbox-nice: want 1 … 19, got "+args[len(args)-1])
	}
	r := runCLI(t, "demo", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "Usage: loadlens demo")
	assert.Contains(t, r.stdout, "--report")
	assert.NotContains(t, r.stdout+r.stderr, "Usage of run")
}

// k6's common flags: the engine options they set reach the run, the
// config file sits under the script, the ones loadlens does not implement
// are accepted and named in a warning.
func TestRunK6Flags(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	config := writeFile(t, "config.json", `{"iterations": 3, "thresholds": {"checks": ["rate==1"]}, "collectors": {}}`)
	script := writeFile(t, "flags.js", `import http from 'k6/http';
import { check } from 'k6';
export default function () {
  console.log('iteration', __ITER);
  check(http.get(__ENV.BASE + '/hop'), { 'the redirect is not followed': (r) => r.status === 302 });
}`)
	result, console := filepath.Join(dir, "result.json"), filepath.Join(dir, "console.log")
	r := runCLI(t, "run", "-q", "-c", config, "-e", "BASE="+srv.URL, "--result", result,
		"--user-agent", "tester/1", "--max-redirects", "0", "--insecure-skip-tls-verify", "--discard-response-bodies",
		"--no-connection-reuse", "--no-vu-connection-reuse", "--setup-timeout", "5s", "--teardown-timeout", "5s",
		"--system-tags", "status,method,scenario,check", "--http-debug", "--console-output", console, "-v",
		"--no-usage-report", "--rps", "5", "--batch", "3", "--batch-per-host", "2", "--dns", "ttl=1m", "-p", "-l",
		script)
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	mu.Lock()
	assert.Equal(t, []string{"tester/1", "tester/1", "tester/1"}, agents, "three iterations from the config file, each with --user-agent")
	mu.Unlock()

	var doc struct {
		Result struct {
			Config struct {
				Options map[string]any `json:"options"`
			} `json:"config"`
		} `json:"result"`
	}
	b, err := os.ReadFile(result)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	opts := doc.Result.Config.Options
	for k, v := range map[string]any{"userAgent": "tester/1", "maxRedirects": 0.0, "insecureSkipTLSVerify": true,
		"discardResponseBodies": true, "noConnectionReuse": true, "noVUConnectionReuse": true, "setupTimeout": "5s",
		"teardownTimeout": "5s", "systemTags": []any{"status", "method", "scenario", "check"}, "httpDebug": "headers"} {
		assert.Equal(t, v, opts[k], k)
	}

	assert.Contains(t, r.stderr, `msg="Request:\nGET /hop HTTP/1.1\nHost: `, "--http-debug dumps requests as k6")
	assert.Contains(t, r.stderr, `msg="Response:\nHTTP/1.1 302 Found\n`)
	assert.Contains(t, r.stderr, "source=http-debug")
	for _, ignored := range []string{"--rps", "--batch was", "--batch-per-host", "--dns", "--paused", "--linger"} {
		assert.Contains(t, r.stderr, ignored+" ", "an ignored flag is named")
	}
	assert.NotContains(t, r.stderr, "usage-report")
	assert.NotContains(t, r.stderr, "source=console", "--console-output takes the script's console")
	b, err = os.ReadFile(console)
	require.NoError(t, err)
	assert.Equal(t, 3, strings.Count(string(b), `msg="iteration `), string(b))
}

// --log-output and --log-format, as k6's.
func TestRunLogFlags(t *testing.T) {
	t.Parallel()
	script := writeFile(t, "log.js", "export const options = { iterations: 1 };\nexport default function () { console.log('hi there'); }")
	r := runCLI(t, "run", "-q", "--log-format", "json", script)
	require.Equal(t, 0, r.code, r.stderr)
	var line map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stderr)), &line), r.stderr)
	assert.Equal(t, "hi there", line["msg"])

	r = runCLI(t, "run", "-q", "--log-format", "raw", "--log-output", "stdout", script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, strings.HasPrefix(r.stdout, "hi there\n"), r.stdout)

	logFile := filepath.Join(t.TempDir(), "k6.log")
	r = runCLI(t, "run", "-q", "--log-output", "file="+logFile, script)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stderr, "hi there")
	b, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Contains(t, string(b), `msg="hi there"`)

	r = runCLI(t, "run", "-q", "--log-output", "loki", "--log-format", "xml", script)
	assert.Equal(t, 104, r.code)
	assert.Contains(t, r.stderr, `--log-output "loki"`)
}

// run - reads the script, or a test file, from stdin, as k6 run - does.
func TestRunFromStdin(t *testing.T) {
	t.Parallel()
	r := runCLIWith(t, cliInput{stdin: "export const options = { iterations: 2 };\nexport default function () {}\n"}, "run", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "script: -")
	assert.Contains(t, r.stdout, "iterations.....")

	srv := startTarget(t, target.Config{})
	r = runCLIWith(t, cliInput{stdin: testFile(srv.URL(), "")}, "run", "-q", "-")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "http_reqs......")
}
