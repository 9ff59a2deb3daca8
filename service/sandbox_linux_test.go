package service_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/loadlens/loadlens/js"
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
		var st service.RunStatus
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

// A tenant weighs the same with the CPU scheduler however many tests it
// runs: its children get nicer as it starts more (log1.25 of their number
// above a lone child's), every thread of them, while the other tenant's
// lone child keeps a lone child's niceness; a tenant's remaining child gets its weight
// back when the agent may lower a niceness (root here, CAP_SYS_NICE).
func TestSandboxTenantsWeighTheSame(t *testing.T) {
	t.Parallel()
	mark := "LOADLENS_TEST_RUN=" + t.Name()
	e := newEnv(t, withSandbox(256), func(c *service.Config) { c.Sandbox.Env = append(c.Sandbox.Env, mark) })
	spin := map[string]any{"test_type": "custom", "script": `export const options = {
  scenarios: { spin: { executor: "constant-vus", vus: 2, duration: "60s", gracefulStop: "0s" } } }
export default function () { while (true) {} }`}
	running := func(key string) string {
		id := e.start(key, spin)
		e.waitFor(key, id, "running", func(st service.RunStatus) bool { return st.State == store.Running })
		return id
	}
	a1, a2 := running(e.keyA), running(e.keyA)
	aChildren := markedChildren(t, mark)
	require.Len(t, aChildren, 2, "tenant A's two children")
	b := running(e.keyB)
	bChild := slices.DeleteFunc(markedChildren(t, mark), func(pid int) bool { return slices.Contains(aChildren, pid) })
	require.Len(t, bChild, 1, "tenant B's child")

	waitNice(t, aChildren, testSandboxNice+3) // + round(log1.25 2)
	waitNice(t, bChild, testSandboxNice)

	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+a1+"/cancel", e.keyA, nil).Status)
	e.waitFinal(e.keyA, a1)
	if os.Geteuid() == 0 {
		waitNice(t, aChildren[1:], testSandboxNice)
	}
	waitNice(t, bChild, testSandboxNice)
	for id, key := range map[string]string{a2: e.keyA, b: e.keyB} {
		require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+id+"/cancel", key, nil).Status)
		e.waitFinal(key, id)
	}
}

// markedChildren lists this process's children whose environment holds
// mark, in the order they started.
func markedChildren(t *testing.T, mark string) []int {
	t.Helper()
	var out []int
	for _, pid := range childrenOf(t, os.Getpid()) {
		env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), mark) && alive(pid) {
			out = append(out, pid)
		}
	}
	slices.Sort(out) // pids grow: start order, barring wraparound
	return out
}

// waitNice waits until every thread of every pid has niceness nice.
func waitNice(t *testing.T, pids []int, nice int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var wrong []string
		for _, pid := range pids {
			tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
			require.NoError(t, err)
			require.NotEmpty(t, tasks, "child %d is gone", pid)
			for _, task := range tasks {
				// After the command name: state, ppid, …; nice is stat's 19th field.
				if f := statFields(task); len(f) > 16 && f[16] != strconv.Itoa(nice) {
					wrong = append(wrong, task+": nice "+f[16])
				}
			}
		}
		if len(wrong) == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "want nice %d on every thread, got %v", nice, wrong)
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// BenchmarkSandboxNeighbourPace measures what two spinning runs of one
// tenant leave of another tenant's lone run, a CPU-bound script against a
// fast loopback target: its requests per second beside them over alone
// (the ratio metric; the goal is within 20 %, ≥ 0.8).
//
//	go test -run '^$' -bench SandboxNeighbourPace -benchtime 3x ./service
func BenchmarkSandboxNeighbourPace(b *testing.B) {
	e := newEnv(b, withSandbox(256))
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer fast.Close()
	neighbour := map[string]any{"test_type": "custom", "env": map[string]any{"TARGET": fast.URL}, "script": `import http from "k6/http"
export const options = { scenarios: { s: { executor: "constant-vus", vus: 4, duration: "4s" } } }
export default function () { http.get(__ENV.TARGET) }`}
	spin := map[string]any{"test_type": "custom", "script": `export const options = {
  scenarios: { s: { executor: "constant-vus", vus: 4, duration: "8s", gracefulStop: "0s" } } }
export default function () { while (true) {} }`}
	pace := func() float64 {
		st := e.waitFinal(e.keyB, e.start(e.keyB, neighbour))
		require.Equal(b, store.Completed, st.State)
		return st.RequestsPerSecond
	}
	var alone, beside float64
	for b.Loop() {
		alone += pace()
		var spinners []string
		for range 2 {
			id := e.start(e.keyA, spin)
			e.waitFor(e.keyA, id, "running", func(st service.RunStatus) bool { return st.State == store.Running })
			spinners = append(spinners, id)
		}
		beside += pace()
		for _, id := range spinners {
			e.waitFinal(e.keyA, id)
		}
	}
	b.ReportMetric(alone/float64(b.N), "alone-req/s")
	b.ReportMetric(beside/float64(b.N), "beside-req/s")
	b.ReportMetric(beside/alone, "ratio")
}

// childModules are the extensions the test binary's sandbox children
// offer. k6/x/escape does what a script that escaped the JavaScript
// runtime could: read says what reading a file gave, signal what sending
// signal 0 (a permission check, no signal) to a process gave; "" is
// success.
var childModules = map[string]js.Module{"k6/x/escape": js.ModuleFunc(func(*js.VU) (js.Exports, error) {
	outcome := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return ""
	}
	return js.Exports{Named: map[string]any{
		"read":   func(path string) string { _, err := os.ReadFile(path); return outcome(err) },
		"signal": func(pid int) string { return outcome(syscall.Kill(pid, 0)) },
		// spawn starts the test binary (pipes for its streams: /dev/null
		// is closed to the child) and says how that went.
		"spawn": func() string {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), io.Discard, io.Discard
			return outcome(cmd.Run())
		},
		// limits sets process pid's RLIMIT_CPU to what it is: were that
		// allowed, a lower hard limit would have the kernel kill it.
		"limits": func(pid int) string {
			var cur unix.Rlimit
			if err := unix.Prlimit(pid, unix.RLIMIT_CPU, nil, &cur); err != nil {
				return err.Error()
			}
			return outcome(unix.Prlimit(pid, unix.RLIMIT_CPU, &cur, nil))
		},
		"connect": func(path string) string {
			c, err := net.Dial("unix", path)
			if err == nil {
				c.Close()
			}
			return outcome(err)
		},
		// threads lists the threads of process pid (tids below pidMax)
		// whose memory process_vm_readv reads from here.
		"threads": func(pid, pidMax int) string {
			var reached []string
			b := make([]byte, len(agentMemory))
			local := []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}}
			remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&agentMemory[0])), Len: len(b)}}
			for tid := 1; tid < pidMax; tid++ {
				if _, err := unix.ProcessVMReadv(tid, local, remote, 0); err == nil && unix.Tgkill(pid, tid, 0) == nil {
					reached = append(reached, strconv.Itoa(tid))
				}
			}
			return strings.Join(reached, " ")
		},
		// inherited lists the descriptors beyond the standard streams that
		// are not close-on-exec: the child's own all are, so these came
		// with its start.
		"inherited": func() string {
			var fds []string
			for fd := 3; fd < 1<<16; fd++ {
				if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
					fds = append(fds, strconv.Itoa(fd))
				}
			}
			return strings.Join(fds, " ")
		},
		// capabilities are the child's effective ones, in hexadecimal.
		"capabilities": func() string {
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			if err := unix.Capget(&hdr, &data[0]); err != nil {
				return err.Error()
			}
			return strconv.FormatUint(uint64(data[1].Effective)<<32|uint64(data[0].Effective), 16)
		},
	}}, nil
})}

// agentMemory is at the same address in the test binary as the agent and
// as its child (a non-PIE executable): k6/x/escape's threads reads it.
var agentMemory = [8]byte{'u', 'n', 't', 'o', 'u', 'c', 'h', 'e'}

// A sandbox child reaches nothing of the agent's: should a script escape
// the JavaScript runtime (k6/x/escape stands for that), it reads neither
// the agent's files nor its environment, and, from Linux 6.12 on, cannot
// signal it; what the child needs (here /etc/hosts) it still reads, and
// no more of /etc (where shadow, private keys and an agent's environment
// files live; /etc/passwd stands for them). Nor may it set the agent's
// resource limits, connect to a Unix socket or start a process.
func TestSandboxChildIsConfined(t *testing.T) {
	t.Parallel()
	abi, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	require.Zero(t, errno, "this kernel has no Landlock: sandbox children would run unconfined")
	secret := filepath.Join(t.TempDir(), "tenants.db")
	require.NoError(t, os.WriteFile(secret, []byte("every tenant's data"), 0o600))
	socket := filepath.Join(t.TempDir(), "db.sock") // a database's, say, with peer authentication
	ln, err := net.Listen("unix", socket)
	require.NoError(t, err)
	defer ln.Close()
	e := newEnv(t, withSandbox(256))
	outcomes := escapeOutcomes(t, e, map[string]string{"SECRET": secret, "AGENT": strconv.Itoa(os.Getpid()), "SOCKET": socket}, map[string]string{
		"limits":  `escape.limits(Number(__ENV.AGENT))`,
		"connect": `escape.connect(__ENV.SOCKET)`,
		"hosts":   `escape.read("/etc/hosts")`,
		"secret":  `escape.read(__ENV.SECRET)`,
		"passwd":  `escape.read("/etc/passwd")`,
		"environ": `escape.read("/proc/" + __ENV.AGENT + "/environ")`,
		"signal":  `escape.signal(Number(__ENV.AGENT))`,
		"spawn":   `escape.spawn()`,
	})
	assert.Empty(t, outcomes["hosts"], "what the child needs")
	assert.Contains(t, outcomes["secret"], "permission denied", "the agent's files")
	assert.Contains(t, outcomes["passwd"], "permission denied", "what the child does not need of /etc")
	assert.Contains(t, outcomes["environ"], "permission denied", "the agent's environment")
	if abi >= 6 {
		assert.Contains(t, outcomes["signal"], "not permitted", "signals to the agent")
	}
	if runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64" { // restrictSystemCalls'
		assert.Contains(t, outcomes["limits"], "not permitted", "the agent's resource limits")
		assert.Contains(t, outcomes["connect"], "not permitted", "Unix sockets")
		assert.Contains(t, outcomes["spawn"], "not permitted", "processes of its own, which would outlive it")
	}
}

// A sandbox child reaches no thread of the agent: were the thread that
// forked it inside its Landlock domain, the child could read and write
// the agent's memory (process_vm_readv, ptrace), take its descriptors
// (pidfd_getfd) and kill it (tgkill). It inherits no descriptor but its
// standard streams (the agent's own launcher may have left some open to
// it, as flock(1) does here) and, when the agent is root, no capability.
func TestSandboxChildReachesNoAgentThread(t *testing.T) {
	t.Parallel()
	_, _, errno := syscall.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	require.Zero(t, errno, "this kernel has no Landlock: sandbox children would run unconfined")
	pidMax, err := os.ReadFile("/proc/sys/kernel/pid_max")
	require.NoError(t, err)
	leak, err := syscall.Open(os.Args[0], syscall.O_RDONLY, 0) // no O_CLOEXEC: as a launcher's
	require.NoError(t, err)
	defer syscall.Close(leak)
	e := newEnv(t, withSandbox(256))
	outcomes := escapeOutcomes(t, e, map[string]string{"AGENT": strconv.Itoa(os.Getpid()), "PID_MAX": strings.TrimSpace(string(pidMax))}, map[string]string{
		"threads":      `escape.threads(Number(__ENV.AGENT), Number(__ENV.PID_MAX))`,
		"inherited":    `escape.inherited()`,
		"capabilities": `escape.capabilities()`,
	})
	assert.Empty(t, outcomes["threads"], "agent threads whose memory the child reads")
	assert.Empty(t, outcomes["inherited"], "descriptors the child inherited, the agent's %d among them", leak)
	assert.Equal(t, "0", outcomes["capabilities"], "the child's capabilities")
}

// escapeOutcomes runs a sandboxed script that makes each attempt, a
// JavaScript expression on k6/x/escape, and returns what each gave by
// name (each check's name carries it).
func escapeOutcomes(t *testing.T, e *env, env, attempts map[string]string) map[string]string {
	t.Helper()
	var checks strings.Builder
	for name, attempt := range attempts {
		fmt.Fprintf(&checks, "\t\t[%q + (%s)]: () => true,\n", name+": ", attempt)
	}
	r := e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom", "env": env,
		"script": `import escape from "k6/x/escape"
import { check } from "k6"
export const options = { vus: 1, iterations: 1 }
export default function () {
	check(null, {
` + checks.String() + `	})
}`})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	final := e.waitFinal(e.keyA, sr.ID)
	require.Equal(t, store.Completed, final.State, "%+v", final)
	outcomes := map[string]string{}
	for _, c := range e.result(e.keyA, sr.ID).Result.RootGroup.Checks {
		what, outcome, _ := strings.Cut(c.Name, ": ")
		outcomes[what] = outcome
	}
	return outcomes
}

// A sandbox child trusts the certificate authorities its environment
// names (SSL_CERT_FILE, as an operator sets it in Sandbox.Env for an
// internal authority), wherever the file is.
func TestSandboxChildTrustsItsCertFile(t *testing.T) {
	t.Parallel()
	tlsTarget := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer tlsTarget.Close()
	authority := filepath.Join(t.TempDir(), "authority.pem")
	require.NoError(t, os.WriteFile(authority, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsTarget.Certificate().Raw}), 0o644))
	e := newEnv(t, withSandbox(256), func(c *service.Config) { c.Sandbox.Env = append(c.Sandbox.Env, "SSL_CERT_FILE="+authority) })
	st := e.waitFinal(e.keyA, e.start(e.keyA, map[string]any{"test_type": "custom", "env": map[string]string{"TARGET": tlsTarget.URL},
		"script": `import http from "k6/http"
export const options = { vus: 1, iterations: 1, thresholds: { http_req_failed: ["rate==0"] } }
export default function () { http.get(__ENV.TARGET) }`}))
	require.Equal(t, store.Completed, st.State, "%+v", st)
	res := e.result(e.keyA, st.ID).Result
	require.NotNil(t, res)
	require.Contains(t, res.Metrics, "http_req_failed")
	assert.Zero(t, res.Metrics["http_req_failed"].Values["rate"], "requests refused the operator's authority")
}
