package service_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/pgtest"
	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// replica is one agent of several on a PostgreSQL database.
type replica struct {
	srv  *service.Server
	ts   *httptest.Server
	st   *store.Store
	logs *syncBuffer
}

func startReplica(t *testing.T, url, name string) *replica {
	t.Helper()
	st, err := store.Open(t.Context(), url)
	require.NoError(t, err)
	r := &replica{st: st, logs: &syncBuffer{}}
	r.srv, err = service.New(service.Config{Store: st, Replica: name, Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(service.NewLogHandler(r.logs, slog.LevelDebug))})
	require.NoError(t, err)
	r.ts = httptest.NewServer(r.srv.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(t, r.srv.Shutdown(ctx))
		r.ts.Close()
		require.NoError(t, st.Close())
	})
	return r
}

func slowTarget(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tm := time.NewTimer(targetDelay)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(ts.Close)
	return ts
}

func pollStatus(t *testing.T, base, key, id, what string, cond func(service.RunStatus) bool) service.RunStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st service.RunStatus
		r := doRequest(t, base, "GET", "/load-test/"+id+"/status", key, nil)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r.json(t, &st)
		if cond(st) {
			return st
		}
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s: %+v", what, st)
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// Two agents on one PostgreSQL database: a run started on A is visible,
// streamed (SSE) and cancelled through B.
func TestReplicasShareRuns(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := startReplica(t, url, "replica-a"), startReplica(t, url, "replica-b")
	key, err := a.st.AddTenant(t.Context(), "tenant-a")
	require.NoError(t, err)
	target := slowTarget(t)
	spec := map[string]any{"test_type": "custom", "name": "shared",
		"target": map[string]any{"base_url": target.URL, "endpoints": []any{"/"}}, "options": map[string]any{"vus": 1, "duration": "45s"}}

	r := doRequest(t, a.ts.URL, "POST", "/load-test/start", key, spec)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)

	// B sees it run, with A's progress.
	st := pollStatus(t, b.ts.URL, key, sr.ID, "progress on replica B", func(st service.RunStatus) bool {
		return st.State == store.Running && st.Requests > 0
	})
	assert.Equal(t, "shared", st.Name)
	var list service.ListResponse
	doRequest(t, b.ts.URL, "GET", "/load-test/list", key, nil).json(t, &list)
	require.Len(t, list.Runs, 1)

	// B streams it until it ends.
	req, err := http.NewRequestWithContext(t.Context(), "GET", b.ts.URL+"/load-test/"+sr.ID+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan []sseEvent, 1)
	go func() { events <- readEvents(t, resp.Body) }()

	// B cancels it; A, which runs it, stops it.
	r = doRequest(t, b.ts.URL, "POST", "/load-test/"+sr.ID+"/cancel", key, nil)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	final := pollStatus(t, a.ts.URL, key, sr.ID, "the cancel on replica A", func(st service.RunStatus) bool { return st.State.Final() })
	assert.Equal(t, store.Cancelled, final.State)

	var got []sseEvent
	select {
	case got = <-events:
	case <-time.After(30 * time.Second):
		t.Fatal("replica B's event stream did not end with the run")
	}
	require.NotEmpty(t, got)
	assert.Equal(t, "status", got[0].Name)
	last := got[len(got)-1]
	assert.Equal(t, "done", last.Name)
	assert.Equal(t, store.Cancelled, last.Data.State)
	assert.Contains(t, a.logs.String(), "run cancelled from another replica")
	r = doRequest(t, b.ts.URL, "POST", "/load-test/"+sr.ID+"/cancel", key, nil)
	assert.Equal(t, http.StatusConflict, r.Status, "an ended run cannot be cancelled")
}

// kill -9 of the agent running a test: the other replica marks the run
// interrupted within 30 s (its default StaleAfter is 15 s).
func TestReplicaKilledMidRunIsInterrupted(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	url := pgtest.Database(t)
	b := startReplica(t, url, "replica-b")
	key, err := b.st.AddTenant(t.Context(), "tenant-a")
	require.NoError(t, err)
	target := slowTarget(t)

	agent := startHelperAgent(t, url)

	spec := map[string]any{"test_type": "custom", "name": "doomed",
		"target": map[string]any{"base_url": target.URL, "endpoints": []any{"/"}}, "options": map[string]any{"vus": 1, "duration": "5m"}}
	r := doRequest(t, agent.base, "POST", "/load-test/start", key, spec)
	require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
	var sr service.StartResponse
	r.json(t, &sr)
	pollStatus(t, b.ts.URL, key, sr.ID, "the run on the other agent", func(st service.RunStatus) bool {
		return st.State == store.Running && st.Requests > 0
	})
	agent.kill()
	killedAt := time.Now()

	st := pollStatus(t, b.ts.URL, key, sr.ID, "the run marked interrupted", func(st service.RunStatus) bool { return st.State.Final() })
	took := time.Since(killedAt)
	assert.Equal(t, store.Interrupted, st.State)
	assert.Contains(t, st.Error, "stopped answering")
	assert.Less(t, took, 30*time.Second)
	t.Logf("marked interrupted %s after kill -9", took.Round(time.Millisecond))
	var audit service.AuditResponse
	doRequest(t, b.ts.URL, "GET", "/audit", key, nil).json(t, &audit)
	require.NotEmpty(t, audit.Events)
	assert.Equal(t, "interrupted", audit.Events[0].Action)
}
