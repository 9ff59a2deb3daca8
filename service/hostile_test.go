package service_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// The tests of this file play a hostile tenant, one per finding of the
// agent's security review (issue 15): each failed on the code before it.

// upload sends a multipart start: the spec as a field and files by path.
func (e *env) upload(key string, spec string, files map[string]string) response {
	e.t.Helper()
	parts := map[string][]byte{"spec": []byte(spec)}
	for name, content := range files {
		parts["file:"+name] = []byte(content)
	}
	return e.uploadParts(key, parts)
}

// uploadParts sends a multipart start: "file:NAME" keys are file parts
// named NAME, other keys form fields (or, for "archive", a file part).
func (e *env) uploadParts(key string, parts map[string][]byte) response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for field, content := range parts {
		var w io.Writer
		var err error
		switch name, isFile := strings.CutPrefix(field, "file:"); {
		case isFile:
			w, err = mw.CreateFormFile("file", name)
		case field == "archive":
			w, err = mw.CreateFormFile("archive", "test.tar")
		default:
			w, err = mw.CreateFormField(field)
		}
		require.NoError(e.t, err)
		_, err = w.Write(content)
		require.NoError(e.t, err)
	}
	require.NoError(e.t, mw.Close())
	return e.do("POST", "/load-test/start", key, body.Bytes(), "Content-Type", mw.FormDataContentType())
}

// escapeScript tries to read every host path it is given, in its init
// code, and fails the start with LEAK if any read works.
func escapeScript(paths ...string) string {
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = fmt.Sprintf("%q", p)
	}
	return `const leaks = []
for (const p of [` + strings.Join(quoted, ", ") + `]) {
  for (const mode of [undefined, "b"]) {
    try { const data = open(p, mode); leaks.push(p + " (" + String(data).slice(0, 20) + ")") } catch (e) {}
  }
  try { require(p); leaks.push("require " + p) } catch (e) {}
}
if (leaks.length > 0) { throw new Error("LEAK " + leaks.join(", ")) }
export const options = { vus: 1, iterations: 1 }
export default function () {}`
}

// C1: a tenant's script reads nothing of the agent's host: not /etc, not
// /proc (the agent's environment holds its API keys), not the agent's own
// database (reading it dropped SQLite's locks), not by ../ from its own
// files, not by import, not by require.
func TestHostileScriptReadsNoHostFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxConcurrent: 10}))
	hostDir := t.TempDir()
	evil := filepath.Join(hostDir, "evil.js")
	require.NoError(t, os.WriteFile(evil, []byte(`export default function () {}`), 0o644))
	paths := []string{"/etc/passwd", "/proc/self/environ", "/proc/self/cmdline", e.dbPath, e.dbPath + "-wal",
		"../../../../etc/passwd", "./../../etc/passwd", "file:///etc/passwd", evil, "/", ".", "lib/../../etc/passwd"}

	// Inline, and as an upload with files of its own.
	r := e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom", "script": escapeScript(paths...)})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	r = e.upload(e.keyA, `{"test_type": "custom", "script_file": "main.js"}`, map[string]string{
		"main.js": escapeScript(paths...), "lib/data.txt": "mine"})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)

	// Its own files it can read, by relative and rooted paths.
	r = e.upload(e.keyA, `{"test_type": "custom", "script_file": "tests/main.js"}`, map[string]string{
		"tests/main.js": `import { who } from "../lib/who.js"
const a = open("../lib/data.txt"), b = open("/lib/data.txt")
if (a !== "mine" || b !== "mine" || who !== "lib") { throw new Error("own files: " + a + b + who) }
export const options = { vus: 1, iterations: 1 }
export default function () {}`,
		"lib/who.js": `export const who = "lib"`, "lib/data.txt": "mine"})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)

	// Imports of host files fail the start with a 400 naming the import.
	for _, spec := range []string{evil, "file://" + evil, "../../../../../../" + strings.TrimPrefix(evil, "/")} {
		r = e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom",
			"script": fmt.Sprintf("import x from %q\nexport default function () {}", spec)})
		assert.Equal(t, http.StatusBadRequest, r.Status, "import %s: %s", spec, r.Body)
		assert.Contains(t, strings.Join(r.errors(t), "\n"), "does not exist", spec)
	}
	// The database is intact: another tenant still lists and starts.
	assert.Equal(t, http.StatusOK, e.do("GET", "/load-test/list", e.keyB, nil).Status)
	e.waitFinal(e.keyB, e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 1}})))
}

// C1: uploaded names that would reach outside the upload are refused,
// every one named.
func TestHostileUploadPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.upload(e.keyA, `{"test_type": "custom", "script": "export default function () {}"}`, map[string]string{
		"../x.js": "", "/etc/passwd": "", "a/../../b.js": "", "a\\..\\b.js": "", "./c.js": "", "d//e.js": ""})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	errs := strings.Join(r.errors(t), "\n")
	for _, name := range []string{"../x.js", "/etc/passwd", "a/../../b.js", "a\\..\\b.js", "./c.js", "d//e.js"} {
		assert.Contains(t, errs, fmt.Sprintf("file %q: want a relative slash path", name))
	}
	r = e.upload(e.keyA, `{"test_type": "custom", "script_file": "missing.js"}`, map[string]string{"main.js": ""})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Contains(t, r.errors(t)[0], `script_file: "missing.js" is not among the uploaded files`)
}

// H2: init code is bounded in time, and it runs only after the tenant is
// admitted: a spinning script gets a 400 naming the limit, and starts over
// the tenant's concurrency limit answer 429 at once instead of each
// burning its init time first.
func TestHostileInitCodeIsBounded(t *testing.T) {
	t.Parallel()
	spin := map[string]any{"test_type": "custom", "script": "while (true) {}\nexport default function () {}"}
	quick := newEnv(t, func(c *service.Config) { c.InitTimeout = 500 * time.Millisecond })
	start := time.Now()
	r := quick.do("POST", "/load-test/start", quick.keyA, spin)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, r.errors(t)[0], "its init code ran longer than 500ms")
	assert.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)

	// A longer limit, so that all six arrive while the first two spin,
	// however busy the machine.
	const initTimeout = 4 * time.Second
	e := newEnv(t, func(c *service.Config) { c.InitTimeout = initTimeout })
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxConcurrent: 2}))

	// Six at once: two are admitted and spin until the timeout; four are
	// refused while those two still spin.
	var wg sync.WaitGroup
	statuses := make(chan int, 6)
	elapsed := make(chan time.Duration, 6)
	for range 6 {
		wg.Go(func() {
			t0 := time.Now()
			statuses <- e.do("POST", "/load-test/start", e.keyA, spin).Status
			elapsed <- time.Since(t0)
		})
	}
	wg.Wait()
	close(statuses)
	close(elapsed)
	counts := map[int]int{}
	for s := range statuses {
		counts[s]++
	}
	assert.Equal(t, map[int]int{http.StatusBadRequest: 2, http.StatusTooManyRequests: 4}, counts)
	var fast int
	for d := range elapsed {
		if d < initTimeout {
			fast++
		}
	}
	assert.Equal(t, 4, fast, "the refused starts did not wait for init code")
}

// H3: the limit check costs nothing like the VUs a test asks for:
// quick-stress with 100 000 VUs, and stage targets of 1e8, answer 403 at
// once (the check was quadratic and never returned).
func TestHostileHugeVUCountsAreRefusedFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := time.Now()
	r := e.do("POST", "/load-test/quick-stress?target_url="+e.target.URL+"/&virtual_users=100000", e.keyA, nil)
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	assert.Contains(t, r.errors(t)[0], "needs up to 100000 VUs; the tenant's max_vus is 50")
	r = e.do("POST", "/load-test/start", e.keyA, e.spec(map[string]any{"options": map[string]any{
		"stages": []any{map[string]any{"duration": "10s", "target": 100_000_000}}}}))
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	assert.Less(t, time.Since(start), 5*time.Second, "a busy machine takes milliseconds; the quadratic check took minutes")
}

// M1: a client without a key gets its 401 at once even when it declared a
// body it never sends (it waited for the body, holding the connection).
func TestHostileClientWithoutKeyIsAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := e.srv.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(service.LimitListener(ln, 4, 0, hs)) }()
	t.Cleanup(func() {
		require.NoError(t, hs.Close())
		<-served
	})
	addr := ln.Addr().String()

	// Headers and a Content-Length, then silence: the 401 comes anyway.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST /load-test/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	status, err := io.ReadAll(io.LimitReader(c, 12))
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 401", string(status))
}

// M1: an idle client cannot hold more connections than LimitListener
// allows: a connection over its share is closed as soon as it comes, and a
// place freed is taken again.
func TestLimitListenerClosesConnectionsOverTheShare(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := service.LimitListener(inner, 2, 0, &http.Server{})
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() { // owned: ends when ln is closed
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	first := <-accepted
	dial()
	<-accepted
	over := dial() // a third from the same address: closed at once
	require.NoError(t, over.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = over.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	select {
	case c := <-accepted:
		t.Fatalf("a connection over the share was accepted: %v", c.RemoteAddr())
	default:
	}
	require.NoError(t, first.Close()) // a place is free again
	dial()
	select {
	case c := <-accepted:
		require.NotNil(t, c)
	case <-time.After(30 * time.Second):
		t.Fatal("the freed place was not taken")
	}
}

// M1 in all, not only per address: clients that never finish their
// headers, from more addresses than the per-address share covers, hold
// every place of the total; a new client takes the place of the one that
// waited longest, so /healthz answers, and a request in flight (a slow one
// from another client) is never the one closed.
func TestLimitListenerKeylessFloodFromManyAddresses(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "slow")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(service.LimitListener(ln, 2, 6, hs)) }() // owned: closed below
	defer func() {
		require.NoError(t, hs.Close())
		<-served
	}()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	slow := make(chan string, 1)
	go func() { // owned: ends when release is closed
		resp, err := client.Get(base + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	select { // the slow request is in flight before the flood
	case <-entered:
	case got := <-slow:
		t.Fatalf("the slow request failed: %s", got)
	}
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			_ = c.Close()
		}
	}()
	for i := range 10 { // 2 from each of 5 addresses: more than the total of 6
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/2))}}
		c, err := d.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never ends its headers
		idle = append(idle, c)
	}
	resp, err := client.Get(base + "/healthz")
	require.NoError(t, err, "/healthz while keyless clients hold every place")
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	close(release)
	select {
	case got := <-slow:
		assert.Equal(t, "slow", got, "the request in flight was not closed for the flood")
	case <-time.After(30 * time.Second):
		t.Fatal("the slow request never ended")
	}
}

// L3: unknown routes and methods answer the documented JSON error body.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/nope", e.keyA, nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, []string{"not found"}, r.errors(t))
	r = e.do("PUT", "/load-test/start", e.keyA, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	assert.Contains(t, r.Header.Get("Allow"), "POST")
	assert.Contains(t, r.errors(t)[0], "method PUT not allowed")
}

// M5: a revoked key, and the key of a removed tenant, answer 401 on the
// running agent at once (a removed tenant's key answered 404).
func TestRevokedKeysStopAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	second, err := e.st.AddKey(t.Context(), "tenant-a")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, e.do("GET", "/load-test/list", e.keyA, nil).Status)
	require.NoError(t, e.st.RevokeKey(t.Context(), "tenant-a", store.KeyID(e.keyA)))
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/load-test/list", e.keyA, nil).Status)
	assert.Equal(t, http.StatusOK, e.do("GET", "/load-test/list", second, nil).Status)

	require.NoError(t, e.st.RemoveTenant(t.Context(), "tenant-b"))
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/load-test/list", e.keyB, nil).Status)
}

// L3: progress counts the test's regular duration, not its gracefulStop (a
// 14 s test sat at 31.8 % and jumped to 100 %), and a cancelled run keeps
// the progress it reached (it showed 100 %).
func TestProgressIgnoresGracefulStopAndStopsWhereCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "6s"}}))
	st := e.waitFor(e.keyA, id, "2 s elapsed", func(st service.RunStatus) bool { return st.ElapsedSeconds >= 2 || st.State.Final() })
	require.False(t, st.State.Final(), "%+v", st)
	// 2 s of 6 s is a third; counting the 30 s gracefulStop it was 6 %.
	assert.GreaterOrEqual(t, st.ProgressPercent, 100*(st.ElapsedSeconds-1)/6, "%+v", st)
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+id+"/cancel", e.keyA, nil).Status)
	final := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Cancelled, final.State)
	assert.Greater(t, final.ProgressPercent, 20.0)
	assert.Less(t, final.ProgressPercent, 99.0, "a cancelled run did not finish")
}

// sandboxChildEnv makes the test binary a sandbox child (see TestMain).
const sandboxChildEnv = "LOADLENS_SANDBOX_CHILD"

// testSandboxNice is the tests' sandbox niceness: barely below the test
// binary's, because the other packages' tests run beside them at 0 and a
// child at the agent's default of 10 would wait for them past its
// init_timeout on a busy machine.
const testSandboxNice = 1

// withSandbox runs tenant scripts in children that are this test binary,
// with a memory limit of mib MiB.
func withSandbox(mib int64) envOption {
	return func(c *service.Config) {
		c.Sandbox = &service.Sandbox{Command: []string{os.Args[0]}, Env: []string{sandboxChildEnv + "=1"}, MemoryBytes: mib << 20, Nice: testSandboxNice,
			MaxResidentBytes: raceResidentFactor * 3 * mib << 20}
	}
}

// result reads a finished run's result.
func (e *env) result(key, id string) service.ResultResponse {
	e.t.Helper()
	r := e.do("GET", "/load-test/"+id+"/result", key, nil)
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	var rr service.ResultResponse
	r.json(e.t, &rr)
	return rr
}

// A sandboxed script runs as an in-process one does: its uploaded files,
// checks, iterations, progress and errors with positions; and it is as
// confined.
func TestSandboxRunsScripts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSandbox(512))
	r := e.upload(e.keyA, `{"test_type": "custom", "name": "sandboxed", "script_file": "main.js"}`, map[string]string{
		"main.js": `import http from "k6/http"
import { check } from "k6"
const target = open("target.txt").trim()
export const options = { vus: 2, iterations: 20 }
export default function () { check(http.get(target + "/api"), { "status is 200": (r) => r.status === 200 }) }`,
		"target.txt": e.target.URL})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	final := e.waitFinal(e.keyA, sr.ID)
	require.Equal(t, store.Completed, final.State, "%+v", final)
	assert.InDelta(t, 100, final.ProgressPercent, 0.001)
	res := e.result(e.keyA, sr.ID).Result
	require.NotNil(t, res)
	assert.EqualValues(t, 20, res.Metrics["iterations"].Values["count"])
	require.Len(t, res.RootGroup.Checks, 1)
	assert.EqualValues(t, 20, res.RootGroup.Checks[0].Passes)

	r = e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom", "script": "export default function() {\n  let x = ;\n}"})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"script: /script.js:2:11: SyntaxError: Unexpected token ;"}, r.errors(t))
	r = e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom",
		"script": escapeScript("/etc/passwd", "/proc/self/environ", e.dbPath, "../../etc/passwd")})
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
}

// H1: a script that allocates without end fails its own start (in init)
// or its own run, with a message saying so; the agent and another tenant's
// test carry on (the agent went to 1.2 GB and died, with every run).
func TestSandboxMemoryBombs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSandbox(128))
	other := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "4s"}}))

	bomb := "const hoard = []\nwhile (true) { hoard.push(new Uint8Array(8 << 20)) }\nexport default function () {}"
	r := e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom", "script": bomb})
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Equal(t, []string{"script: its init code used more than 128 MiB of memory, the agent's limit for a test"}, r.errors(t))

	id := e.start(e.keyA, map[string]any{"test_type": "custom", "script": `const hoard = []
export const options = { vus: 1, duration: "30s" }
export default function () { for (let i = 0; i < 4; i++) hoard.push(new Uint8Array(8 << 20)) }`})
	st := e.waitFinal(e.keyA, id)
	assert.Equal(t, store.Failed, st.State)
	assert.Contains(t, st.Error, "the test used more memory than its limit")

	assert.Equal(t, http.StatusOK, e.do("GET", "/healthz", "", nil).Status)
	done := e.waitFinal(e.keyB, other)
	assert.Equal(t, store.Completed, done.State, "%+v", done)
}

// H2: a script that spins in its default function does it in a child that
// may use one CPU fewer than the machine has, at a lower priority, never the
// agent's: another tenant's test carries on (BenchmarkNeighbourPace
// measures its pace beside it), and the spinning run stops at its end.
func TestSandboxCPUSpinIsConfined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSandbox(256))
	spin := e.start(e.keyA, map[string]any{"test_type": "custom", "script": `export const options = {
  scenarios: { spin: { executor: "constant-vus", vus: 4, duration: "3s", gracefulStop: "1s" } } }
export default function () { while (true) {} }`})
	e.waitFor(e.keyA, spin, "running", func(st service.RunStatus) bool { return st.State != store.Queued })
	other := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "2s"}}))
	st := e.waitFinal(e.keyB, other)
	assert.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Positive(t, st.RequestsPerSecond)

	st = e.waitFinal(e.keyA, spin)
	assert.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Less(t, st.ElapsedSeconds, 20.0, "3 s, then 1 s of gracefulStop interrupts the spinning iterations")
	res := e.result(e.keyA, spin).Result
	require.NotNil(t, res)
	assert.Equal(t, max(runtime.NumCPU()-1, 1), res.Generator.CPUs, "the child's CPUs")
	assert.EqualValues(t, 4, res.Scenarios[0].Interrupted)
}

// M4: secrets a tenant puts in request bodies, query strings, headers,
// URLs and env never come back: not in the stored spec, the result, the
// report, the run list, nor the database file.
func TestSecretsNeverStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // the default RenderHTML is the real report
	secrets := []string{"hunter2-body", "tok-in-query", "hdr-s3cret", "env-s3cret", "url-passw0rd", "fragment-t0k"}
	base := strings.Replace(e.target.URL, "http://", "http://ann:url-passw0rd@", 1)
	id := e.start(e.keyA, map[string]any{"test_type": "custom", "name": "login",
		"target": map[string]any{"base_url": base, "auth_token": "hdr-s3cret",
			"custom_headers": map[string]any{"X-Api-Key": "hdr-s3cret"},
			"endpoints": []any{
				"/search?q=shoes&access_token=tok-in-query",
				"/cb#access_token=fragment-t0k",
				map[string]any{"method": "POST", "path": "/login", "body": map[string]any{"user": "ann", "password": "hunter2-body"}},
				map[string]any{"method": "POST", "path": "/form", "body": "user=ann&password=hunter2-body"},
			}},
		"env":     map[string]any{"DB_PASSWORD": "env-s3cret", "DSN": "postgres://u:env-s3cret@h/db"},
		"options": map[string]any{"vus": 1, "iterations": 3}})
	e.waitFinal(e.keyA, id)
	seen := e.storedAndServed(id)
	for where, b := range seen {
		for _, secret := range secrets {
			assert.NotContains(t, string(b), secret, "%s holds a secret", where)
		}
	}
	assert.Contains(t, string(seen["/load-test/"+id+"/result"]), "access_token=[REDACTED]", "the name says where it was")
}

// M4 for the requests a script builds: a secret it puts in a URL's query,
// in a URL's password or in a name tag is in no tag, endpoint, error,
// report or database page, in the agent's process or a sandbox child.
func TestScriptURLSecretsNeverStored(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"in process": nil, "sandboxed": {withSandbox(256)}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, opts...)
			id := e.start(e.keyA, map[string]any{"test_type": "custom", "name": "login",
				"env": map[string]any{"TOKEN": "tok-script-s3cret", "TARGET": e.target.URL},
				"script": `import http from "k6/http"
export const options = { vus: 1, iterations: 2 }
export default function () {
  http.get(__ENV.TARGET + "/api?access_token=" + __ENV.TOKEN)
  http.get(__ENV.TARGET + "/named", { tags: { name: "/named?api_key=" + __ENV.TOKEN } })
  http.get("http://ann:" + __ENV.TOKEN + "@127.0.0.1:1/down?token=" + __ENV.TOKEN)
}`})
			st := e.waitFinal(e.keyA, id)
			require.Equal(t, store.Completed, st.State, "%+v", st)
			seen := e.storedAndServed(id)
			for where, b := range seen {
				assert.NotContains(t, string(b), "tok-script-s3cret", "%s holds the secret", where)
			}
			result := string(seen["/load-test/"+id+"/result"])
			assert.Contains(t, result, "/api?access_token=[REDACTED]", "the name says where it was")
			assert.Contains(t, result, "/named?api_key=[REDACTED]")
		})
	}
}

// storedAndServed is what a run left: its result, report, listing and
// status as served, and the database's pages as written, in either file.
func (e *env) storedAndServed(id string) map[string][]byte {
	e.t.Helper()
	seen := map[string][]byte{}
	for _, path := range []string{"/load-test/" + id + "/result", "/load-test/" + id + "/report.html", "/load-test/list",
		"/load-test/" + id + "/status"} {
		r := e.do("GET", path, e.keyA, nil)
		require.Equal(e.t, http.StatusOK, r.Status, "%s: %s", path, r.Body)
		seen[path] = r.Body
	}
	for _, f := range []string{e.dbPath, e.dbPath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil {
			seen[f] = b
		}
	}
	return seen
}

// M6: a tenant's stored runs are bounded in all: past its quota, starts
// are refused (403 max_storage) until it deletes runs.
func TestStorageQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *service.Config) { c.MaxStoredBytes = 1 << 10 }) // less than one run
	first := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 2}}))
	e.waitFinal(e.keyA, first)
	r := e.do("POST", "/load-test/start", e.keyA, e.spec(nil))
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	var body struct{ Errors, Limits []string }
	r.json(t, &body)
	assert.Equal(t, []string{"max_storage"}, body.Limits)
	assert.Contains(t, body.Errors[0], "delete old ones (DELETE /load-test/{id})")
	// Another tenant's quota is its own.
	live := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "30s"}}))
	assert.Equal(t, http.StatusConflict, e.do("DELETE", "/load-test/"+live, e.keyB, nil).Status, "a live run")
	assert.Equal(t, http.StatusNotFound, e.do("DELETE", "/load-test/"+first, e.keyB, nil).Status, "another tenant's run")
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+live+"/cancel", e.keyB, nil).Status)
	e.waitFinal(e.keyB, live)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/load-test/"+first, e.keyA, nil).Status)
	assert.Equal(t, http.StatusNotFound, e.do("GET", "/load-test/"+first+"/status", e.keyA, nil).Status)
	e.waitFinal(e.keyA, e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 1}})))
}

// max_vus holds at run time: scenarios that hand over to one another
// (each at the tenant's max_vus, one after another) never have more VUs
// made or at work than it.
func TestMaxVUsHoldsAtRunTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxVUs: 10}))
	sc := map[string]any{}
	for i := range 3 {
		sc[fmt.Sprint("s", i)] = map[string]any{"executor": "constant-vus", "vus": 10, "duration": "1s",
			"gracefulStop": "0s", "startTime": fmt.Sprintf("%ds", i)}
	}
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"scenarios": sc}}))
	st := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Completed, st.State, "%+v", st)
	assert.Equal(t, int64(10), st.MaxVUs, "vus_max")
	vus := e.result(e.keyA, id).Result.Metric(metrics.VUs)
	most, ok := vus.Value("max")
	require.True(t, ok)
	assert.LessOrEqual(t, most, 10.0, "VUs at work at once")
}
