package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/target"
)

// binary is the loadlens program, for the tests that need a process of
// their own (serve, signals, a distributed run's runners, an agent's
// sandboxed children). It is built without the race detector: those
// processes run load and scripts, and under the detector a busy machine
// pushes their init past the agent's timeouts.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "loadlens-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "loadlens")
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/loadlens/loadlens/cmd/loadlens").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		// genai depends on opencensus, which starts a worker at init.
		if err := goleak.Find(goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")); err != nil {
			panic(err)
		}
	}
	os.Exit(code)
}

func startTarget(t *testing.T, cfg target.Config) *target.Server {
	t.Helper()
	srv, err := target.New(cfg)
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context(), "127.0.0.1:0"))
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	return runCLIWith(t, cliInput{}, args...)
}

// cliInput is what a run of the CLI gets besides its arguments.
type cliInput struct {
	env   []string // K=V on top of the test's environment
	stdin string
}

// runCLIWith runs the command line in process, as a process would: with
// the test's environment plus in.env, and in.stdin. A run that outlasts
// two minutes is cancelled as a Ctrl-C would.
func runCLIWith(t *testing.T, in cliInput, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	env := append(os.Environ(), in.env...)
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v // the last one wins, as in a process's environment
		}
	}
	var stdout, stderr lockedBuffer
	a := &app{stdin: strings.NewReader(in.stdin), stdout: &stdout, stderr: &stderr, getenv: fakeEnv(vars),
		environ: func() []string { return env }, executable: func() (string, error) { return binary, nil },
		hardExit: func(code int) { t.Errorf("a second signal ended the command with %d", code) }}
	code := a.main(ctx, args)
	return cliResult{code, stdout.String(), stderr.String()}
}

func testFile(url string, extra string) string {
	return `{"test_type": "custom", "target": {"base_url": "` + url + `", "endpoints": ["/", {"path": "/status/404", "expect_status": 404, "name": "missing"}]},
		"options": {"vus": 2, "iterations": 10` + extra + `}}`
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	tests := []struct {
		name      string
		file      string
		fileName  string // default test.json
		args      []string
		code      int
		stdout    []string
		notStdout []string
		stderr    []string
	}{
		{name: "passes", file: testFile(srv.URL(), `, "thresholds": {"checks": ["rate==1"]}`), code: 0,
			stdout: []string{"█ THRESHOLDS", "✓ 'rate==1'", "http_reqs......", ": 20 "}, notStdout: []string{"http_req_blocked"}},
		{name: "thresholds crossed", file: testFile(srv.URL(), `, "thresholds": {"http_req_failed": ["rate<0.1"]}`), code: 99,
			stdout: []string{"✗ 'rate<0.1' rate=50.00%"}, stderr: []string{"thresholds on metrics 'http_req_failed' have been crossed"}},
		{name: "flags override the file", file: testFile(srv.URL(), ``), args: []string{"-i", "4", "--vus", "1"}, code: 0,
			stdout: []string{"4 iterations shared among 1 VUs", ": 8 "}},
		{name: "a preset's ramps scale with its duration, and it says so", file: `{"test_type": "load", "duration": "2s", "virtual_users": 2,
			"target": {"base_url": "` + srv.URL() + `", "endpoints": ["/"]}}`, code: 0,
			stdout: []string{"* load: Up to 2 looping VUs for 2.666s over 3 stages"},
			stderr: []string{`test_type \"load\": ramp_up_duration_seconds not given, so the preset's (ramps scale with a given duration)`}},
		{name: "summary mode full lists every HTTP timing, as k6's", file: testFile(srv.URL(), ``), args: []string{"-q", "--summary-mode", "full"},
			code: 0, stdout: []string{"http_req_blocked....", "http_req_connecting....", "http_req_waiting....", "http_req_receiving...."}},
		{name: "no thresholds", file: testFile(srv.URL(), `, "thresholds": {"http_req_failed": ["rate<0.1"]}`), args: []string{"--no-thresholds"}, code: 0},
		{name: "invalid config lists every problem", file: `{"test_type": "volcano", "virtual_users": -3,
			"target": {"base_url": "ftp://x", "endpoints": [""]}, "options": {"thresholds": {"nope": ["count>1"]}}}`, code: 104,
			stderr: []string{"test_type", "virtual_users", "target.base_url", "target.endpoints[0].path"}},
		// encoding/json said "cannot unmarshal string into Go struct field
		// TestSpec.virtual_users of type int64", of the first problem only.
		{name: "a test file's JSON problems are all named, with their lines and columns", file: `{"test_type": "smoke",
  "target": {"base_url": "` + srv.URL() + `", "endpoints": ["/"], "timeout": 5},
  "virtual_users": "two",
  "bogus": 1}`, code: 104,
			stderr: []string{`test.json: target.timeout: unknown field (line 2, column`, `test.json: virtual_users: want an integer (64-bit), got the string "two" (line 3, column 20)`,
				`test.json: bogus: unknown field (line 4, column 3)`}},
		{name: "a test file's syntax error says where", file: "{\n  \"test_type\": \"smoke\",\n}", code: 104,
			stderr: []string{`test.json: invalid character '}' looking for beginning of object key string (line 3, column 1)`}},
		{name: "unknown threshold metric", file: testFile(srv.URL(), `, "thresholds": {"nonexistent_metric": ["count>1"]}`), code: 104,
			stderr: []string{`metric "nonexistent_metric" does not exist`}},
		{name: "bad flag values", file: testFile(srv.URL(), ``), args: []string{"-s", "x:y", "--tag", "novalue", "--summary-mode", "loud", "--target-cpus", "-1", "--summary-time-unit", "h"},
			code: 104, stderr: []string{`--stage "x:y"`, `--tag "novalue"`, `--summary-mode "loud"`, "--target-cpus: must be >= 0", `--summary-time-unit "h": want s, ms or us`}},
		{name: "quiet keeps the summary and the script's logs, as k6", fileName: "log.js", args: []string{"-q", "-e", "URL=" + srv.URL()},
			file: "import http from 'k6/http';\nexport const options = { iterations: 2 };\nexport default function () { console.log('hello from', __ITER); http.get(__ENV.URL); }",
			code: 0, stdout: []string{"█ TOTAL RESULTS", "http_reqs......"}, notStdout: []string{"execution: local", "scenarios:"},
			stderr: []string{`msg="hello from 0" source=console`, `msg="hello from 1" source=console`}},
		{name: "summary disabled skips handleSummary", fileName: "hs.js", args: []string{"--summary-mode=disabled"}, code: 0,
			file:      "export default function () {}\nexport function handleSummary() { return { stdout: 'from handleSummary' }; }",
			stdout:    []string{"execution: local"},
			notStdout: []string{"█ TOTAL RESULTS", "█ ANALYSIS", "from handleSummary"}},
		{name: "summary time unit", fileName: "unit.js", args: []string{"--summary-time-unit", "us", "-q"}, code: 0,
			file:      "import { Trend } from 'k6/metrics';\nconst t = new Trend('wait', true);\nexport default function () { t.add(2.5); }",
			stdout:    []string{"wait...", "avg=2500µs"},
			notStdout: []string{"avg=2.5ms"}},
		{name: "no setup, no teardown", fileName: "setup.js", args: []string{"--no-setup", "--no-teardown", "-q"}, code: 0,
			file: "export function setup() { throw new Error('setup ran'); }\nexport default function () {}\nexport function teardown() { throw new Error('teardown ran'); }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := tt.fileName
			if name == "" {
				name = "test.json"
			}
			path := writeFile(t, name, tt.file)
			r := runCLI(t, append(append([]string{"run"}, tt.args...), path)...)
			assert.Equal(t, tt.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			for _, s := range tt.stdout {
				assert.Contains(t, r.stdout, s)
			}
			for _, s := range tt.notStdout {
				assert.NotContains(t, r.stdout, s)
			}
			for _, s := range tt.stderr {
				assert.Contains(t, r.stderr, s)
			}
		})
	}
}

func TestRunWritesFiles(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	dir := t.TempDir()
	export, ndjson, result := filepath.Join(dir, "summary.json"), filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "result.json")
	csvGz := filepath.Join(dir, "out.csv.gz")
	path := writeFile(t, "test.json", testFile(srv.URL(), `, "thresholds": {"http_req_duration": ["p(95)<5000"]}`))
	r := runCLI(t, "run", "-q", "--summary-export", export, "--out", "json="+ndjson, "--out", "csv="+csvGz, "--result", result, path)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "execution: local", "-q drops the banner")
	assert.Contains(t, r.stdout, "█ TOTAL RESULTS", "-q keeps the summary, as k6")

	var summary struct {
		Metrics   map[string]map[string]any `json:"metrics"`
		RootGroup map[string]any            `json:"root_group"`
	}
	b, err := os.ReadFile(export)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &summary))
	assert.Equal(t, 20.0, summary.Metrics["http_reqs"]["count"])
	assert.Equal(t, map[string]any{"p(95)<5000": false}, summary.Metrics["http_req_duration"]["thresholds"])
	assert.Contains(t, summary.Metrics["http_req_failed"], "value", "rates are written as value, as k6")
	assert.Contains(t, summary.RootGroup, "checks")

	f, err := os.Open(ndjson)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	points := 0
	for sc.Scan() {
		var line struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		if line.Type == "Point" && line.Metric == "http_reqs" {
			points++
		}
	}
	assert.Equal(t, 20, points)

	gz, err := os.Open(csvGz)
	require.NoError(t, err)
	defer gz.Close()
	zr, err := gzip.NewReader(gz)
	require.NoError(t, err)
	rows, err := csv.NewReader(zr).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	assert.Equal(t, []string{"metric_name", "timestamp", "metric_value"}, rows[0][:3])
	csvReqs := 0
	for _, row := range rows[1:] {
		if row[0] == "http_reqs" {
			csvReqs++
		}
	}
	assert.Equal(t, 20, csvReqs, "the CSV has the same requests as the NDJSON")

	var doc struct {
		Result struct {
			Status string `json:"status"`
		} `json:"result"`
		Findings []map[string]any `json:"findings"`
	}
	b, err = os.ReadFile(result)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	assert.Equal(t, "passed", doc.Result.Status)
	assert.NotNil(t, doc.Findings)
}

// The first SIGINT stops the run gracefully: the summary is still printed
// and the exit code is k6's 105.
func TestRunSIGINT(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{Latency: time.Millisecond})
	path := writeFile(t, "test.json", `{"test_type": "custom", "target": {"base_url": "`+srv.URL()+`", "endpoints": ["/"]},
		"options": {"vus": 2, "duration": "1m"}}`)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "run", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	deadline := time.Now().Add(30 * time.Second)
	for srv.Stats().Requests < 50 {
		require.True(t, time.Now().Before(deadline), "the run never sent requests")
		time.Sleep(10 * time.Millisecond) // polling the target's counter, not synchronising
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 105, exit.ExitCode(), stderr.String())
	assert.Contains(t, stdout.String(), "█ TOTAL RESULTS")
	assert.Contains(t, stderr.String(), "stopping gracefully")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 2, runCLI(t).code)
	assert.Equal(t, 2, runCLI(t, "bogus").code)
	r := runCLI(t, "run", "--help")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "--vus", "help goes to stdout, as k6's")
	r = runCLI(t, "run", "nope.txt")
	assert.Equal(t, 255, r.code, "an unreadable file is not a config error")
	assert.True(t, strings.Contains(runCLI(t, "version").stdout, "loadlens"))
}

// Files that are missing or malformed, and k6's exit codes for them, as
// k6 v2.2.0 answered (run against its binary):
//   - k6 run nope.js: 255, "The moduleSpecifier \"nope.js\" couldn't be
//     found on local disk. Make sure that you've specified the right path
//     to the file. …"
//   - k6 run -c nope.json ok.js: 104, "failed to load the configuration
//     file from the local file system: stat nope.json: no such file or
//     directory"
//   - k6 run -c bad.json ok.js, bad.json with a trailing comma: 104,
//     "couldn't parse the configuration from \"bad.json\": invalid
//     character '}' looking for beginning of object key string"; with
//     "vus": "two": 104, "strconv.ParseInt: parsing \"two\": invalid syntax"
//   - open('/nonexistent/dir/file.txt') in init: 107, "GoError: stat
//     /nonexistent/dir/file.txt: no such file or directory"
//
// A loadlens test file is configuration, so a missing one is 104 too.
func TestRunMissingAndMalformedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	script := write("ok.js", "export default function () {}\n")
	trailingComma := write("comma.json", "{\n  \"vus\": 1,\n}\n")
	wrongType := write("type.json", "{\n  \"vus\": \"two\",\n  \"iterations\": [1]\n}\n")
	opens := write("open.js", "const d = open('/nonexistent/dir/file.txt');\nexport default function () {}\n")
	missing := filepath.Join(dir, "nope")
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"missing script", []string{missing + ".js"}, 255,
			[]string{`loadlens: "` + missing + `.js" couldn't be found on local disk; check the path: open ` + missing + ".js: no such file or directory"}},
		{"missing test file", []string{missing + ".json"}, 104,
			[]string{"invalid configuration", "test file: open " + missing + ".json: no such file or directory"}},
		{"missing config", []string{"-c", missing + ".json", script}, 104,
			[]string{"--config " + missing + ".json: open " + missing + ".json: no such file or directory"}},
		{"malformed config", []string{"-c", trailingComma, script}, 104,
			[]string{"--config " + trailingComma + ": options: invalid character '}' looking for beginning of object key string (line 3, column 1)"}},
		{"config of the wrong types", []string{"-c", wrongType, script}, 104, []string{
			"--config " + wrongType + `: options.vus: want an integer (64-bit), got the string "two" (line 2, column 10)`,
			"--config " + wrongType + `: options.iterations: want an integer (64-bit), got an array (line 3, column 17)`}},
		{"open() names the whole path", []string{opens}, 107,
			[]string{"open /nonexistent/dir/file.txt: no such file or directory"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append([]string{"run", "-q"}, tt.args...)...)
			assert.Equal(t, tt.code, r.code, r.stderr)
			for _, s := range tt.stderr {
				assert.Contains(t, r.stderr, s)
			}
		})
	}
	// k6 ignores a config file's unknown options; loadlens says so, once.
	unknown := write("unknown.json", `{"vus": 1, "bogus": 1}`)
	r := runCLI(t, "run", "-q", "-i", "1", "-c", unknown, script)
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 1, strings.Count(r.stderr, `option \"bogus\" is not supported by loadlens and was ignored`), r.stderr)
}

// Every command's --help prints its own usage on stdout and exits 0;
// target's lists the routes it serves.
func TestHelpOfEveryCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"run"}, []string{"Usage: loadlens run", "--vus"}},
		{[]string{"archive"}, []string{"Usage: loadlens archive"}},
		{[]string{"inspect"}, []string{"Usage: loadlens inspect"}},
		{[]string{"demo"}, []string{"Usage: loadlens demo", "--report"}},
		{[]string{"target"}, []string{"Usage: loadlens target", "GET   /api/products       load ×2", "POST  /api/checkout",
			"/delay/{ms}", "/metrics", "--fault"}},
		{[]string{"report"}, []string{"Usage: loadlens report", "--html"}},
		{[]string{"compare"}, []string{"Usage: loadlens compare", "--fail-on"}},
		{[]string{"serve"}, []string{"Usage: loadlens serve", "--addr"}},
		{[]string{"tenant"}, []string{"Usage: loadlens tenant add"}},
		{[]string{"coordinator"}, []string{"Usage: loadlens coordinator", "--runners"}},
		{[]string{"runner"}, []string{"Usage: loadlens runner", "--nats"}},
		{[]string{"k8s"}, []string{"Usage: loadlens k8s render"}},
		{[]string{"k8s", "render"}, []string{"Usage: loadlens k8s render", "--image"}},
		{[]string{"version"}, []string{"Usage: loadlens version"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			for _, help := range []string{"--help", "-h"} {
				r := runCLI(t, append(slices.Clone(tt.args), help)...)
				assert.Equal(t, 0, r.code, r.stderr)
				for _, s := range tt.want {
					assert.Contains(t, r.stdout, s, help)
				}
			}
		})
	}
}

// --summary-mode full is k6's full summary: TOTAL RESULTS, then a section
// per scenario holding a section per group, each with its own checks and
// metrics. testdata/k6-full-summary.txt is what k6 v2.2.0 printed for
// testdata/full-summary.js (`k6 run -q --summary-mode full -e BASE=…`
// against `loadlens target`); values differ from run to run, so the two
// are compared with every number blanked and runs of spaces collapsed:
// the sections, their order and indentation, the metrics each holds, the
// checks and the dots must be k6's.
func TestRunSummaryModeFullIsK6s(t *testing.T) {
	t.Parallel()
	srv := startTarget(t, target.Config{})
	want, err := os.ReadFile(filepath.Join("testdata", "k6-full-summary.txt"))
	require.NoError(t, err)
	r := runCLI(t, "run", "-q", "--no-analysis", "--summary-mode", "full", "-e", "BASE="+srv.URL(), filepath.Join("testdata", "full-summary.js"))
	require.Equal(t, 0, r.code, r.stderr)
	got, _, _ := strings.Cut(r.stdout, "\n  █ REQUEST ERRORS")
	assert.Equal(t, summaryShape(string(want)), summaryShape(got))
	assert.Contains(t, got, "\n  █ SCENARIO: browse \n")
	assert.Contains(t, got, "\n      ↳ GROUP: detail \n")
}

var (
	summaryNumber = regexp.MustCompile(`\d[\d.]*( ?(kB/s|MB/s|GB/s|B/s|kB|MB|GB|B)|ns|µs|ms|s|%|/s)?`)
	summarySpaces = regexp.MustCompile(`([^ ]) {2,}`)
)

// summaryShape is a summary with its values blanked, for comparing
// layouts.
func summaryShape(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		l = summaryNumber.ReplaceAllString(l, "#")
		l = summarySpaces.ReplaceAllString(l, "$1 ")
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}
