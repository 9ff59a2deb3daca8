package service_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// receiver is a loopback webhook receiver that fails its first n requests.
type receiver struct {
	mu     sync.Mutex
	failN  int
	bodies [][]byte
	header []http.Header
	srv    *httptest.Server
}

func newReceiver(t *testing.T, failN int) *receiver {
	rc := &receiver{failN: failN}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.bodies = append(rc.bodies, b)
		rc.header = append(rc.header, r.Header.Clone())
		if len(rc.bodies) <= rc.failN {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() [][]byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([][]byte(nil), rc.bodies...)
}

func TestWebhookAlertsWithRetry(t *testing.T) {
	t.Parallel()
	flaky := newReceiver(t, 2)
	slack := newReceiver(t, 0)
	onlyFailures := newReceiver(t, 0)
	otherTenant := newReceiver(t, 0)
	e := newEnv(t, func(c *service.Config) {
		c.Webhooks = []service.Webhook{
			{URL: flaky.srv.URL, Backoff: 5 * time.Millisecond, Headers: map[string]string{"X-Receiver-Token": "rt"}},
			{URL: slack.srv.URL, Format: service.FormatSlack},
			{URL: onlyFailures.srv.URL, Events: []string{service.EventFailed}},
			{URL: otherTenant.srv.URL, Tenants: []string{"tenant-b"}},
		}
	})
	spec := e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"},
		"thresholds": map[string]any{"http_req_duration": []string{"p(95)<0.001"}}})
	id := e.start(e.keyA, spec)
	st := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Completed, st.State)

	require.Eventually(t, func() bool { return len(flaky.received()) == 3 && len(slack.received()) == 1 }, 20*time.Second, 10*time.Millisecond)
	bodies := flaky.received()
	assert.Equal(t, bodies[0], bodies[2], "a retry sends the same alert")
	var a service.Alert
	require.NoError(t, json.Unmarshal(bodies[2], &a))
	assert.Equal(t, id, a.RunID)
	assert.Equal(t, "tenant-a", a.Tenant)
	assert.Equal(t, store.Completed, a.State)
	assert.Equal(t, []string{service.EventCompleted, service.EventThresholdsFailed}, a.Events[:2])
	assert.Equal(t, []string{"http_req_duration: p(95)<0.001"}, a.FailedThresholds)
	flaky.mu.Lock()
	assert.Equal(t, "rt", flaky.header[0].Get("X-Receiver-Token"))
	assert.Equal(t, "application/json", flaky.header[0].Get("Content-Type"))
	flaky.mu.Unlock()

	var msg map[string]string
	require.NoError(t, json.Unmarshal(slack.received()[0], &msg))
	assert.Contains(t, msg["text"], id)
	assert.Contains(t, msg["text"], "threshold failed")
	assert.Len(t, msg, 1, "Slack's incoming-webhook payload is {\"text\": …}")

	assert.Empty(t, onlyFailures.received())
	assert.Empty(t, otherTenant.received())
}

// runIDs returns the run_id of each JSON alert.
func runIDs(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	var ids []string
	for _, b := range bodies {
		var a service.Alert
		require.NoError(t, json.Unmarshal(b, &a), "%s", b)
		ids = append(ids, a.RunID)
	}
	return ids
}

func TestTenantWebhooks(t *testing.T) {
	t.Parallel()
	agent := newReceiver(t, 0)
	ownA := newReceiver(t, 2) // fails twice: retried
	ownB := newReceiver(t, 0)
	e := newEnv(t, func(c *service.Config) { c.Webhooks = []service.Webhook{{URL: agent.srv.URL}} })
	// Added once the agent runs: they are read when a run ends.
	require.NoError(t, e.st.AddWebhook(t.Context(), "tenant-a", service.Webhook{URL: ownA.srv.URL, Backoff: 5 * time.Millisecond}))
	require.NoError(t, e.st.AddWebhook(t.Context(), "tenant-b", service.Webhook{URL: ownB.srv.URL, Format: service.FormatSlack}))

	spec := e.spec(map[string]any{"options": map[string]any{"vus": 1, "duration": "1s"}})
	idA, idB := e.start(e.keyA, spec), e.start(e.keyB, spec)
	require.Equal(t, store.Completed, e.waitFinal(e.keyA, idA).State)
	require.Equal(t, store.Completed, e.waitFinal(e.keyB, idB).State)
	require.Eventually(t, func() bool {
		return len(agent.received()) == 2 && len(ownA.received()) == 3 && len(ownB.received()) == 1
	}, 20*time.Second, 10*time.Millisecond)

	// Removed, tenant-a's webhook gets no more alerts; the agent's still does.
	require.NoError(t, e.st.RemoveWebhook(t.Context(), "tenant-a", ownA.srv.URL))
	idA2 := e.start(e.keyA, spec)
	require.Equal(t, store.Completed, e.waitFinal(e.keyA, idA2).State)
	require.Eventually(t, func() bool { return len(agent.received()) == 3 }, 20*time.Second, 10*time.Millisecond)

	// Shutdown waits for every run, alerts included: nothing is in flight
	// when the counts are checked.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))

	assert.ElementsMatch(t, []string{idA, idB, idA2}, runIDs(t, agent.received()), "the agent's webhook gets every tenant's alerts")
	assert.Equal(t, []string{idA, idA, idA}, runIDs(t, ownA.received()), "tenant-a's: its first run only, retried twice")
	require.Len(t, ownB.received(), 1, "tenant-b's: its own run only")
	var msg map[string]string
	require.NoError(t, json.Unmarshal(ownB.received()[0], &msg))
	assert.Contains(t, msg["text"], idB, "in its Slack format")
	assert.NotContains(t, msg["text"], idA)
	assert.Contains(t, e.logs.String(), `"tenant_webhook":0`)
	assert.NotContains(t, e.logs.String(), ownA.srv.URL, "URLs are secrets")
}

func TestWebhookOnFailure(t *testing.T) {
	t.Parallel()
	onlyFailures := newReceiver(t, 0)
	e := newEnv(t, func(c *service.Config) {
		c.Webhooks = []service.Webhook{{URL: onlyFailures.srv.URL, Events: []string{service.EventFailed}}}
	})
	// The init code runs once to read the options, then fails in every VU.
	id := e.start(e.keyA, map[string]any{"test_type": "custom", "name": "broken",
		"script": `if (__VU > 0) { throw new Error("no VU for you") }
export const options = { vus: 1, duration: "1s" }
export default function () {}`})
	st := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Failed, st.State)
	assert.Contains(t, st.Error, "no VU for you")
	require.Eventually(t, func() bool { return len(onlyFailures.received()) == 1 }, 10*time.Second, 10*time.Millisecond)
	var a service.Alert
	require.NoError(t, json.Unmarshal(onlyFailures.received()[0], &a))
	assert.Equal(t, service.EventFailed, a.Events[0])
	assert.Contains(t, a.Error, "no VU for you")
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), t.TempDir()+"/x.db")
	require.NoError(t, err)
	defer st.Close()
	_, err = service.New(service.Config{Store: st, Webhooks: []service.Webhook{{URL: "ftp://x", Format: "xml", Events: []string{"bogus"}}}})
	require.Error(t, err)
	for _, w := range []string{"webhooks[0].url", "webhooks[0].format", "webhooks[0].events"} {
		assert.Contains(t, err.Error(), w)
	}
	_, err = service.New(service.Config{})
	require.Error(t, err)
}
