package service_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// helperEnv, set to a database path, makes the test binary an agent: it
// serves on a loopback port, prints "ADDR host:port" and runs until killed.
const helperEnv = "LOADLENS_SERVICE_HELPER_DB"

// helperSandboxEnv makes that agent run scripts in sandbox children.
const helperSandboxEnv = "LOADLENS_SERVICE_HELPER_SANDBOX"

func helperMain() int {
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv(helperEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := service.Config{Store: st}
	if os.Getenv(helperSandboxEnv) != "" {
		cfg.Sandbox = &service.Sandbox{Command: []string{os.Args[0]}, Env: []string{sandboxChildEnv + "=1"}, MemoryBytes: 256 << 20,
			Nice: testSandboxNice}
	}
	srv, err := service.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	_ = hs.Serve(ln) // until SIGKILL
	return 1
}

// helperAgent is the test binary running as an agent (helperMain).
type helperAgent struct {
	base string // its URL
	pid  int
	kill func() // SIGKILL, once; cleanup kills it too
}

// startHelperAgent starts a helperAgent on the database db, with env
// added to its environment.
func startHelperAgent(t *testing.T, db string, env ...string) helperAgent {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+db), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var once sync.Once
	kill := func() {
		once.Do(func() {
			_ = cmd.Process.Kill() // SIGKILL: the agent cleans nothing up
			_ = cmd.Wait()
		})
	}
	t.Cleanup(kill)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	require.True(t, ok, line)
	return helperAgent{base: "http://" + addr, pid: cmd.Process.Pid, kill: kill}
}

func TestRestartRecovery(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	e := newEnv(t)
	done := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}}))
	require.Equal(t, store.Completed, e.waitFinal(e.keyA, done).State)
	before := e.do("GET", "/load-test/"+done+"/result", e.keyA, nil)
	require.Equal(t, http.StatusOK, before.Status)

	// A second agent on the same database, killed while a test runs.
	agent := startHelperAgent(t, e.dbPath)
	base := agent.base

	r := doRequest(t, base, "POST", "/load-test/start", e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "60s"}}))
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st service.RunStatus
		doRequest(t, base, "GET", "/load-test/"+sr.ID+"/status", e.keyA, nil).json(t, &st)
		if st.State == store.Running && st.Requests > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run never ran: %+v", st)
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	agent.kill()

	// Before a restart, the database still says running.
	run, err := e.st.Summary(t.Context(), "tenant-a", sr.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Running, run.State)

	// A restarted agent (New) marks it interrupted; the earlier result is intact.
	srv2, err := service.New(service.Config{Store: e.st})
	require.NoError(t, err)
	defer func() { require.NoError(t, srv2.Shutdown(context.Background())) }()
	run, err = e.st.Summary(t.Context(), "tenant-a", sr.ID)
	require.NoError(t, err)
	assert.Equal(t, store.Interrupted, run.State)
	assert.NotEmpty(t, run.Error)
	assert.False(t, run.Ended.IsZero())
	st := e.status(e.keyA, sr.ID)
	assert.Equal(t, store.Interrupted, st.State)
	after := e.do("GET", "/load-test/"+done+"/result", e.keyA, nil)
	require.Equal(t, http.StatusOK, after.Status)
	assert.JSONEq(t, string(before.Body), string(after.Body))
	var audit service.AuditResponse
	e.do("GET", "/audit", e.keyA, nil).json(t, &audit)
	require.NotEmpty(t, audit.Events)
	assert.Equal(t, "interrupted", audit.Events[0].Action)
	assert.Equal(t, "agent", audit.Events[0].Actor)
}
