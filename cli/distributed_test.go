package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// countingTarget counts setup() calls and requests.
func countingTarget(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Int64) {
	t.Helper()
	var setups, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/setup" {
			setups.Add(1)
		}
		requests.Add(1)
	}))
	t.Cleanup(srv.Close)
	return srv, &setups, &requests
}

// A k6 script with an import and an open()ed file runs on three local
// runner processes as one test: setup once, every iteration exactly
// once, one summary; the NDJSON and CSV files have every sample of every
// runner, as many per metric as one process writes; --runner-out adds
// each runner's own.
func TestRunWithRunners(t *testing.T) {
	t.Parallel()
	srv, setups, _ := countingTarget(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.json"), []byte(`{"path": "/item"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lib.js"), []byte(`export const pathOf = (d) => d.path;`), 0o644))
	script := filepath.Join(dir, "script.js")
	require.NoError(t, os.WriteFile(script, []byte(`import http from 'k6/http';
import { check } from 'k6';
import { pathOf } from './lib.js';
const data = JSON.parse(open('./data.json'));
export const options = { scenarios: { s: { executor: 'shared-iterations', vus: 6, iterations: 300 } },
  thresholds: { iterations: ['count==300'], 'http_reqs{name:item}': ['count>250'] } };
export function setup() { http.get(__ENV.TARGET + '/setup'); return { token: 'abc' }; }
export default function (d) {
  const r = http.get(__ENV.TARGET + pathOf(data), { tags: { name: 'item' } });
  check(r, { ok: (r) => r.status === 200 && d.token === 'abc' });
}`), 0o644))
	out, csvOut := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.csv")
	res := runCLI(t, "run", "--runners", "3", "--runner-out", "-q", "-e", "TARGET="+srv.URL,
		"--out", "json="+out, "--out", "csv="+csvOut, script)
	require.Equal(t, 0, res.code, "%s\n%s", res.stdout, res.stderr)
	assert.Equal(t, int64(1), setups.Load(), "setup ran once")
	assert.Contains(t, res.stdout, "✓ 'count==300'")
	assert.Contains(t, res.stdout, "✓ 'count>250'", "a threshold that each runner's share fails passes on the merged metrics")
	assert.Contains(t, res.stdout, "checks_succeeded...: 100.00% 300 out of 300")
	assert.Contains(t, res.stderr, "clock_offset=")
	var perRunner int
	for i := range 3 {
		perRunner += pointsPerMetric(t, filepath.Join(dir, fmt.Sprintf("out.runner-%d.json", i)))[metricHTTPReqs]
	}
	assert.Equal(t, 300, perRunner, "each runner's own file has its share")

	oneOut, oneCSV := filepath.Join(dir, "one.json"), filepath.Join(dir, "one.csv")
	one := runCLI(t, "run", "-q", "-e", "TARGET="+srv.URL, "--out", "json="+oneOut, "--out", "csv="+oneCSV, script)
	require.Equal(t, 0, one.code, "%s\n%s", one.stdout, one.stderr)
	merged, single := pointsPerMetric(t, out), pointsPerMetric(t, oneOut)
	assert.Equal(t, 301, merged[metricHTTPReqs], "300 iterations and setup's request")
	assert.Equal(t, 300, merged["checks"])
	assert.Equal(t, single, merged)
	assert.Equal(t, rowsPerMetric(t, oneCSV), rowsPerMetric(t, csvOut))
}

const metricHTTPReqs = "http_reqs"

// pointsPerMetric counts an NDJSON file's points per metric, but vus and
// vus_max: one per second of a run whose length varies.
func pointsPerMetric(t *testing.T, file string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	counts := map[string]int{}
	for line := range strings.Lines(string(b)) {
		var p struct{ Type, Metric string }
		require.NoError(t, json.Unmarshal([]byte(line), &p), line)
		if p.Type == "Point" && p.Metric != "vus" && p.Metric != "vus_max" {
			counts[p.Metric]++
		}
	}
	return counts
}

// rowsPerMetric counts a CSV file's rows per metric, but vus and vus_max.
func rowsPerMetric(t *testing.T, file string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	require.Equal(t, "metric_name", rows[0][0])
	counts := map[string]int{}
	for _, row := range rows[1:] {
		if row[0] != "vus" && row[0] != "vus_max" {
			counts[row[0]]++
		}
	}
	return counts
}

// slowScript runs for a minute unless stopped, with a 1 s gracefulStop.
const slowScript = `import http from 'k6/http';
import { sleep } from 'k6';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '60s', gracefulStop: '1s' } } };
export default function () { http.get(__ENV.TARGET); sleep(0.05); }`

// children returns the pids of pid's child processes (started from any
// of its threads).
func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// startDistributed starts `run --runners 2` on slowScript and returns
// once both runners send load.
func startDistributed(t *testing.T) (*exec.Cmd, *lockedBuffer, []int) {
	t.Helper()
	srv, _, requests := countingTarget(t)
	script := writeFile(t, "slow.js", slowScript)
	cmd := exec.Command(binary, "run", "--runners", "2", "-q", "-e", "TARGET="+srv.URL, script)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second // the runners share the stderr pipe: do not wait for them to close it
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	var runners []int
	for requests.Load() < 50 || len(runners) < 2 {
		require.True(t, time.Now().Before(deadline), "runners never sent load: %s", stderr.String())
		time.Sleep(50 * time.Millisecond) // polling the target's counter, with a deadline
		runners = children(cmd.Process.Pid)
	}
	return cmd, &stderr, runners
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		require.NoError(t, err)
		return 0, time.Since(start)
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running after %s", within)
		return 0, 0
	}
}

// kill -9 of a runner mid-run: the coordinator reports it within seconds,
// aborts the run with k6's exit code for an aborted run, and does not hang.
func TestRunnerKilledMidRun(t *testing.T) {
	t.Parallel()
	cmd, stderr, runners := startDistributed(t)
	require.NoError(t, syscall.Kill(runners[1], syscall.SIGKILL))
	code, took := waitExit(t, cmd, 30*time.Second)
	t.Logf("coordinator exited %s after the kill", took)
	assert.Equal(t, exitExternalAbort, code, stderr.String())
	assert.Contains(t, stderr.String(), "lost")
	assert.Less(t, took, 15*time.Second)
	for _, pid := range runners {
		assert.False(t, alive(pid), "runner %d is gone", pid)
	}
}

// kill -9 of the coordinator (and with it the embedded NATS server): the
// runners stop by themselves within gracefulStop + 5 s.
func TestCoordinatorKilledMidRun(t *testing.T) {
	t.Parallel()
	cmd, _, runners := startDistributed(t)
	killed := time.Now()
	require.NoError(t, syscall.Kill(cmd.Process.Pid, syscall.SIGKILL))
	_, _ = waitExit(t, cmd, 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, pid := range runners {
		for alive(pid) {
			require.NoError(t, ctx.Err(), "runner %d still running %s after its coordinator was killed", pid, time.Since(killed))
			time.Sleep(50 * time.Millisecond) // polling /proc, with a deadline
		}
	}
	took := time.Since(killed)
	t.Logf("runners stopped %s after the coordinator was killed", took)
	// The runners' promise is gracefulStop (1 s) + 5 s; 4 s more for a busy machine.
	assert.Less(t, took, 10*time.Second)
}

// lockedBuffer is a buffer the test reads while a process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// The rendered manifests run: the coordinator's and the runners' container
// arguments, as Kubernetes would start them (JOB_COMPLETION_INDEX set),
// on loopback.
func TestK8sRenderedManifestsRun(t *testing.T) {
	t.Parallel()
	srv, setups, _ := countingTarget(t)
	script := writeFile(t, "k8s.js", `import http from 'k6/http';
export const options = { vus: 4, iterations: 40, thresholds: { iterations: ['count==40'] } };
export function setup() { http.get(__ENV.TARGET + '/setup'); }
export default function () { http.get(__ENV.TARGET); }`)
	res := runCLI(t, "k8s", "render", "--runners", "2", "--image", "loadlens:test", "-e", "TARGET="+srv.URL, script)
	require.Equal(t, 0, res.code, res.stderr)
	var archive []byte
	var coordArgs, runnerArgs []string
	for _, doc := range strings.Split(res.stdout, "---\n") {
		var head struct{ Kind string }
		require.NoError(t, yaml.Unmarshal([]byte(doc), &head))
		switch {
		case head.Kind == "ConfigMap":
			var cm corev1.ConfigMap
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &cm))
			archive = cm.BinaryData["test.archive"]
		case head.Kind == "Job":
			var j batchv1.Job
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), &j))
			if j.Spec.CompletionMode != nil {
				runnerArgs = j.Spec.Template.Spec.Containers[0].Args
			} else {
				coordArgs = j.Spec.Template.Spec.Containers[0].Args
			}
		}
	}
	require.NotEmpty(t, archive)
	dir := t.TempDir()
	archivePath := filepath.Join(dir, "test.archive")
	require.NoError(t, os.WriteFile(archivePath, archive, 0o644))
	port := freePort(t)
	for i, a := range coordArgs {
		switch a {
		case "/etc/loadlens/test.archive":
			coordArgs[i] = archivePath
		case "0.0.0.0:4222":
			coordArgs[i] = fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	for i, a := range runnerArgs {
		if strings.HasPrefix(a, "nats://") {
			runnerArgs[i] = fmt.Sprintf("nats://127.0.0.1:%d", port)
		}
	}
	coord := exec.Command(binary, coordArgs...)
	var coordOut, coordErr lockedBuffer
	coord.Stdout, coord.Stderr = &coordOut, &coordErr
	require.NoError(t, coord.Start())
	t.Cleanup(func() { _ = coord.Process.Kill() })
	var runners []*exec.Cmd
	for i := range 2 {
		r := exec.Command(binary, runnerArgs...)
		r.Env = append(os.Environ(), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
		require.NoError(t, r.Start())
		t.Cleanup(func() { _ = r.Process.Kill() })
		runners = append(runners, r)
	}
	code, _ := waitExit(t, coord, 60*time.Second)
	require.Equal(t, 0, code, "%s\n%s", coordOut.String(), coordErr.String())
	assert.Contains(t, coordOut.String(), "✓ 'count==40'")
	assert.Equal(t, int64(1), setups.Load())
	for _, r := range runners {
		code, _ := waitExit(t, r, 20*time.Second)
		assert.Equal(t, 0, code)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
