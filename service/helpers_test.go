package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/internal/pgtest"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	if os.Getenv(sandboxChildEnv) != "" {
		// The test binary as a sandbox child (withSandbox).
		if err := service.ServeSandbox(context.Background(), os.Stdin, os.Stdout, service.ChildOptions{Modules: childModules}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pgtest.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// openAPIRouter is the OpenAPI document's router, shared by all tests.
var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(service.OpenAPI())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	return legacy.NewRouter(doc)
})

// syncBuffer is a bytes.Buffer safe for concurrent writes (the logs).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is a real agent on a temp SQLite file behind httptest, with two
// tenants, and a loopback target.
type env struct {
	t      testing.TB
	st     *store.Store
	srv    *service.Server
	ts     *httptest.Server
	target *httptest.Server
	dbPath string
	logs   *syncBuffer
	keyA   string
	keyB   string
}

type envOption func(*service.Config)

// targetDelay is how long the fake target takes per request: VUs mostly
// wait, so that tests stay light on two shared cores.
const targetDelay = 10 * time.Millisecond

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, logs: &syncBuffer{}, dbPath: filepath.Join(t.TempDir(), "loadlens.db")}
	e.target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(targetDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "ok")
	}))
	st, err := store.Open(t.Context(), e.dbPath)
	require.NoError(t, err)
	e.st = st
	e.keyA, err = st.AddTenant(t.Context(), "tenant-a")
	require.NoError(t, err)
	e.keyB, err = st.AddTenant(t.Context(), "tenant-b")
	require.NoError(t, err)
	cfg := service.Config{Store: st, Logger: slog.New(service.NewLogHandler(e.logs, slog.LevelDebug))}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = service.New(cfg)
	require.NoError(t, err)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(e.t, e.srv.Shutdown(ctx))
	e.ts.Close()
	e.target.Close()
	require.NoError(e.t, e.st.Close())
}

// response is what a request got back.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "%s", r.Body)
}

func (r response) errors(t testing.TB) []string {
	t.Helper()
	var body struct{ Errors []string }
	r.json(t, &body)
	return body.Errors
}

// do sends a request with the key (Bearer; "" for none) and checks the
// response against the OpenAPI document.
func (e *env) do(method, path, key string, body any, headers ...string) response {
	e.t.Helper()
	return doRequest(e.t, e.ts.URL, method, path, key, body, headers...)
}

func doRequest(t testing.TB, base, method, path, key string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: data}
	conform(t, req, r)
	return r
}

// conform validates a response against the OpenAPI document: a documented
// status, content type and (for JSON) body schema.
func conform(t testing.TB, req *http.Request, r response) {
	t.Helper()
	router, err := openAPIRouter()
	require.NoError(t, err)
	route, params, err := router.FindRoute(req)
	if err != nil && (r.Status == http.StatusMethodNotAllowed || r.Status == http.StatusNotFound) {
		var body struct{ Errors []string }
		require.NoError(t, json.Unmarshal(r.Body, &body), "an unknown route answers the JSON error body: %s", r.Body)
		require.NotEmpty(t, body.Errors)
		return
	}
	require.NoError(t, err, "route of %s %s", req.Method, req.URL.Path)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true,
			ExcludeResponseBody: !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s → %d %s", req.Method, req.URL.Path, r.Status, r.Body)
}

// spec is a test spec against the env's target.
func (e *env) spec(extra map[string]any) map[string]any {
	s := map[string]any{
		"test_type": "custom",
		"name":      "checkout",
		"target":    map[string]any{"base_url": e.target.URL, "endpoints": []any{"/api/products"}},
		"options":   map[string]any{"vus": 2, "duration": "2s"},
	}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

// start starts a test and returns its id.
func (e *env) start(key string, spec map[string]any) string {
	e.t.Helper()
	r := e.do("POST", "/load-test/start", key, spec)
	require.Equal(e.t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(e.t, &sr)
	require.NotEmpty(e.t, sr.ID)
	return sr.ID
}

func (e *env) status(key, id string) service.RunStatus {
	e.t.Helper()
	r := e.do("GET", "/load-test/"+id+"/status", key, nil)
	require.Equal(e.t, http.StatusOK, r.Status, "%s", r.Body)
	var st service.RunStatus
	r.json(e.t, &st)
	return st
}

// waitFor polls the run's status until cond holds, with a deadline.
func (e *env) waitFor(key, id string, what string, cond func(service.RunStatus) bool) service.RunStatus {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := e.status(key, id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s: timed out waiting for %s; last status %+v", id, what, st)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func (e *env) waitFinal(key, id string) service.RunStatus {
	e.t.Helper()
	return e.waitFor(key, id, "a final state", func(st service.RunStatus) bool { return st.State.Final() })
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Name string
	Data service.RunStatus
}

// readEvents reads an SSE stream to its end.
func readEvents(t *testing.T, body io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Name != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			cur.Name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.Data))
		}
	}
	return out
}

// fakeResolver resolves every name to the given addresses (no DNS in tests).
func fakeResolver(addrs ...string) envOption {
	return func(c *service.Config) {
		c.LookupHost = func(_ context.Context, host string) ([]netip.Addr, error) {
			if len(addrs) == 0 {
				return nil, fmt.Errorf("no such host %s", host)
			}
			var out []netip.Addr
			for _, a := range addrs {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}
	}
}
