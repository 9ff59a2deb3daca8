package service_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// An agent killed with SIGKILL takes its sandbox children with it: a
// tenant's load never outlives the agent that admitted it.
func TestSandboxChildrenDieWithTheAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := startHelperAgent(t, e.dbPath, helperSandboxEnv+"=1")
	base := agent.base

	r := doRequest(t, base, "POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom",
		"script": `import http from "k6/http"
export const options = { vus: 1, duration: "60s" }
export default function () { http.get("` + e.target.URL + `/api") }`})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st service.Status
		doRequest(t, base, "GET", "/load-test/"+sr.ID+"/status", e.keyA, nil).json(t, &st)
		if st.State == store.Running && st.Requests > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the run never ran: %+v", st)
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	children := childrenOf(t, agent.pid)
	require.NotEmpty(t, children, "the agent runs the script in a child")

	agent.kill()
	for _, pid := range children {
		for alive(pid) {
			require.True(t, time.Now().Before(deadline.Add(30*time.Second)), "sandbox child %d outlived its agent", pid)
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []int
	for _, f := range stats {
		if fields := statFields(f); len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			child, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
			out = append(out, child)
		}
	}
	return out
}

// alive says whether pid runs: gone, or a zombie nobody reaped yet, is dead.
func alive(pid int) bool {
	fields := statFields("/proc/" + strconv.Itoa(pid) + "/stat")
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// statFields are a /proc stat file's fields after the command name:
// state, parent, …; nil when the process is gone.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}
