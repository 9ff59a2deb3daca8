package cli

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/store"
	"github.com/loadlens/loadlens/target"
)

// agent is a `loadlens serve` process and a tenant's key to it.
type agent struct {
	t    *testing.T
	base string
	key  string
	cmd  *exec.Cmd
}

// startAgent starts `serve` with args on a fresh database with one tenant.
func startAgent(t *testing.T, args ...string) *agent {
	t.Helper()
	db := filepath.Join(t.TempDir(), "agent.db")
	r := runCLI(t, "tenant", "add", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--db", db}, args...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	a := &agent{t: t, key: strings.TrimSpace(r.stdout), cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`"addr":"([^"]+)"`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case got := <-addr:
		a.base = "http://" + got
	case <-time.After(time.Minute):
		t.Fatal("the agent never said where it listens")
	}
	return a
}

func (a *agent) call(method, path, body string) (int, []byte) {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.base+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(a.t, err)
	return resp.StatusCode, b
}

// start starts a test and returns its id.
func (a *agent) start(spec map[string]any) string {
	a.t.Helper()
	body, err := json.Marshal(spec)
	require.NoError(a.t, err)
	code, resp := a.call("POST", "/load-test/start", string(body))
	require.Equal(a.t, http.StatusAccepted, code, string(resp))
	var started struct {
		ID string `json:"id"`
	}
	require.NoError(a.t, json.Unmarshal(resp, &started))
	return started.ID
}

// status polls the run's status until done says so, within a minute.
func (a *agent) status(id string, done func(map[string]any) bool) map[string]any {
	a.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := a.call("GET", "/load-test/"+id+"/status", "")
		require.Equal(a.t, http.StatusOK, code, string(body))
		var st map[string]any
		require.NoError(a.t, json.Unmarshal(body, &st))
		if done(st) {
			return st
		}
		require.True(a.t, time.Now().Before(deadline), "the run never got there: %s", body)
		time.Sleep(100 * time.Millisecond) // polling the API, as a client does
	}
}

func ended(st map[string]any) bool {
	return !slices.Contains([]any{string(store.Queued), string(store.Running)}, st["state"])
}

// startPoolRunner starts `runner --pool` at url and returns it.
func startPoolRunner(t *testing.T, url string) *exec.Cmd {
	t.Helper()
	// Its children at nice 1, not 10: the other packages' tests run beside
	// them at 0 on a busy machine, and a child waiting for them would pass
	// its init_timeout.
	cmd := exec.Command(binary, "runner", "--pool", "--nats", url, "--sandbox-nice", "1")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return cmd
}

func natsServer(t *testing.T) string {
	t.Helper()
	srv, err := distributed.StartServer(t.Context(), distributed.ServerOptions{})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return srv.ClientURL()
}

// keys returns the keys of a JSON object, and of its objects, as paths.
func keys(prefix string, v any, depth int) []string {
	m, ok := v.(map[string]any)
	if !ok || depth == 0 {
		return nil
	}
	var out []string
	for k, sub := range m {
		out = append(out, prefix+k)
		out = append(out, keys(prefix+k+".", sub, depth-1)...)
	}
	slices.Sort(out)
	return out
}

const poolScript = `import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 2, iterations: 40, thresholds: { http_req_failed: ['rate<0.5'] } };
export default function () { check(http.get(__ENV.TARGET), { '200': (r) => r.status === 200 }); }`

// `serve --nats` runs a tenant's test on the runner pool: it completes
// with the result a local sandbox gives, in the same shape, and the
// agent's own process sends none of its requests.
func TestServeOnRunnerPool(t *testing.T) {
	t.Parallel()
	tgt := startTarget(t, target.Config{})
	url := natsServer(t)
	startPoolRunner(t, url)
	pooled := startAgent(t, "--nats", url)
	local := startAgent(t)

	spec := map[string]any{"name": "pool", "script": poolScript, "env": map[string]string{"TARGET": tgt.URL() + "/"}}
	results := map[string]map[string]any{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, a := range map[string]*agent{"pool": pooled, "local": local} {
		wg.Go(func() {
			id := a.start(spec)
			st := a.status(id, ended)
			assert.Equal(t, string(store.Completed), st["state"], "%s: %v", name, st)
			code, body := a.call("GET", "/load-test/"+id+"/result", "")
			assert.Equal(t, http.StatusOK, code, string(body))
			var res map[string]any
			assert.NoError(t, json.Unmarshal(body, &res))
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Len(t, results, 2)
	pool, loc := results["pool"], results["local"]
	assert.Equal(t, keys("", loc, 3), keys("", pool, 3), "the same result shape")
	reqs := func(res map[string]any) any {
		m, _ := res["result"].(map[string]any)["metrics"].(map[string]any)["http_reqs"].(map[string]any)
		return m["values"].(map[string]any)["count"]
	}
	assert.Equal(t, 40.0, reqs(pool), "every iteration's request, from the runner")
	assert.Equal(t, reqs(loc), reqs(pool))
}

// A test on the pool is cancelled as a local one is, and the runner is
// free again afterwards; a runner killed mid-run fails its test within
// seconds, saying so, and the agent goes on.
func TestServeOnRunnerPoolCancelAndLostRunner(t *testing.T) {
	t.Parallel()
	tgt := startTarget(t, target.Config{})
	url := natsServer(t)
	runner := startPoolRunner(t, url)
	a := startAgent(t, "--nats", url, "--take-timeout", "20s")
	spec := map[string]any{"name": "slow", "script": slowScript, "env": map[string]string{"TARGET": tgt.URL() + "/"}}
	running := func(st map[string]any) bool {
		reqs, _ := st["requests"].(float64)
		return st["state"] == string(store.Running) && reqs > 0 || ended(st)
	}

	id := a.start(spec)
	a.status(id, running)
	// Live progress streams (SSE) as from a local child.
	req, err := http.NewRequestWithContext(t.Context(), "GET", a.base+"/load-test/"+id+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	events := bufio.NewScanner(resp.Body)
	for events.Scan() && events.Text() != "event: progress" { // the status event first
	}
	require.Equal(t, "event: progress", events.Text(), "a progress event: %v", events.Err())
	require.True(t, events.Scan())
	assert.Contains(t, events.Text(), `"state":"running"`)
	_ = resp.Body.Close()

	code, body := a.call("POST", "/load-test/"+id+"/cancel", "")
	require.Equal(t, http.StatusAccepted, code, string(body))
	st := a.status(id, ended)
	assert.Equal(t, string(store.Cancelled), st["state"], "%v", st)

	id = a.start(spec)
	a.status(id, running)
	sandboxes := children(runner.Process.Pid)
	require.NotEmpty(t, sandboxes, "the runner runs the test in a sandbox child")
	killed := time.Now()
	require.NoError(t, runner.Process.Signal(syscall.SIGKILL))
	st = a.status(id, ended)
	took := time.Since(killed)
	t.Logf("the run ended %s after its runner was killed: %v", took, st["error"])
	assert.Equal(t, string(store.Failed), st["state"], "%v", st)
	assert.Contains(t, st["error"], "lost: no heartbeat for")
	assert.Less(t, took, 30*time.Second, "no hang")
	for _, pid := range sandboxes {
		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			require.True(t, time.Now().Before(deadline), "the sandbox child outlived its runner")
			time.Sleep(50 * time.Millisecond) // polling /proc, with a deadline
		}
	}
	code, _ = a.call("GET", "/healthz", "")
	assert.Equal(t, http.StatusOK, code, "the agent goes on")
}
