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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// The tests of this file play a hostile tenant, one per finding of the
// agent's security review (issue 15): each failed on the code before it.

// upload sends a multipart start: the spec as a field and files by path.
func (e *env) upload(key string, spec string, files map[string]string) response {
	e.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(e.t, mw.WriteField("spec", spec))
	for name, content := range files {
		w, err := mw.CreateFormFile("file", name)
		require.NoError(e.t, err)
		_, err = io.WriteString(w, content)
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
	const initTimeout = 500 * time.Millisecond
	e := newEnv(t, func(c *service.Config) { c.InitTimeout = initTimeout })
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxConcurrent: 2}))
	spin := map[string]any{"test_type": "custom", "script": "while (true) {}\nexport default function () {}"}

	start := time.Now()
	r := e.do("POST", "/load-test/start", e.keyA, spin)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, r.errors(t)[0], "its init code ran longer than 500ms")
	assert.GreaterOrEqual(t, time.Since(start), initTimeout)

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
// body it never sends, and an idle client cannot hold more connections
// than LimitListener allows, so other clients are still served.
func TestHostileSlowClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	hs := e.srv.HTTPServer()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(service.LimitListener(ln, 4, 0)) }()
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

	// Four idle connections from one address fill its share; a fifth is
	// closed at once, and the agent still answers once one leaves.
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		idle = append(idle, c)
		_, err = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // never finished
		require.NoError(t, err)
	}
	c.Close()
	require.Eventually(t, func() bool {
		extra, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer extra.Close()
		_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = extra.Read(make([]byte, 1))
		return err == io.EOF // closed by the agent, not timed out
	}, 10*time.Second, 50*time.Millisecond)
	idle[0].Close()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond)
	for _, c := range idle[1:] {
		c.Close()
	}
}

// L3: unknown routes and methods answer the documented JSON error body.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("GET", "/nope", e.keyA, nil)
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, []string{"not found"}, r.errors(t))
	r = e.do("DELETE", "/load-test/start", e.keyA, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status)
	assert.Equal(t, "POST", r.Header.Get("Allow"))
	assert.Contains(t, r.errors(t)[0], "method DELETE not allowed")
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
	st := e.waitFor(e.keyA, id, "2 s elapsed", func(st service.Status) bool { return st.ElapsedSeconds >= 2 || st.State.Final() })
	require.False(t, st.State.Final(), "%+v", st)
	// 2 s of 6 s is a third; counting the 30 s gracefulStop it was 6 %.
	assert.GreaterOrEqual(t, st.ProgressPercent, 100*(st.ElapsedSeconds-1)/6, "%+v", st)
	require.Equal(t, http.StatusAccepted, e.do("POST", "/load-test/"+id+"/cancel", e.keyA, nil).Status)
	final := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Cancelled, final.State)
	assert.Greater(t, final.ProgressPercent, 20.0)
	assert.Less(t, final.ProgressPercent, 99.0, "a cancelled run did not finish")
}
