package service_test

// Findings of a hostile-tenant review of the agent's defences (after the
// sandbox landed): each test plays a tenant against a real agent and
// failed on the code the review was written against.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// listenOn starts an httptest server on a given loopback address.
func listenOn(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return ts
}

// SSRF: the telemetry scraper follows redirects and dials without the
// tenant's dial rule, so a tenant allowed only 127.0.0.1 reads a Prometheus
// endpoint on 127.0.0.2 (in production: 169.254.169.254, the node's
// exporters, the cluster's internal services) through a redirect from its
// own allowed host; the values come back in the result's timeline, and a
// body that is not an exposition comes back quoted in the scrape error.
func TestTelemetryScrapesStayWithinTheAllowlist(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{AllowedHosts: []string{"127.0.0.1/32"}}))
	var internalHits atomic.Int64
	internal := listenOn(t, "127.0.0.2:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		_, _ = io.WriteString(w, "# TYPE internal_secret gauge\ninternal_secret 4242.5\n")
	}))
	redirector := listenOn(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/metrics", http.StatusFound)
	}))
	id := e.start(e.keyA, e.spec(map[string]any{
		"options":   map[string]any{"vus": 1, "duration": "1s"},
		"telemetry": map[string]any{"prometheus": redirector.URL + "/metrics", "metrics": []string{"internal_secret"}, "interval": "200ms"},
	}))
	e.waitFinal(e.keyA, id)
	body := e.do("GET", "/load-test/"+id+"/result", e.keyA, nil).Body
	assert.Zero(t, internalHits.Load(), "the agent scraped an address outside the tenant's allowed_hosts")
	assert.False(t, strings.Contains(string(body), "4242.5"), "an internal endpoint's metrics came back to the tenant")
	assert.Contains(t, string(body), "redirects are not followed")
}

// The limit check's schedule math is bounded: a JSON spec (no script, so
// no init timeout) of many ramping scenarios that hand over to one another
// cost stages × VUs of it (4 minutes and 20 GB at 1 000 VUs); past
// maxVUChanges the agent refuses the plan instead of computing its peak.
func TestScheduleMathIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxVUs: 400, MaxConcurrent: 10}))
	spec := func(vus int) map[string]any {
		sc := map[string]any{}
		const n, stages = 10, 400
		for i := range n {
			var st []any
			for j := range stages {
				st = append(st, map[string]any{"duration": "1us", "target": vus * ((j + 1) % 2)})
			}
			sc[fmt.Sprint("s", i)] = map[string]any{"executor": "ramping-vus", "startVUs": 0, "stages": st,
				"gracefulRampDown": "0s", "gracefulStop": "0s", "startTime": fmt.Sprintf("%dus", i*stages*2)}
		}
		return e.spec(map[string]any{"options": map[string]any{"scenarios": sc}})
	}
	e.waitFinal(e.keyA, e.start(e.keyA, spec(2))) // 12 000 changes: planned
	r := e.do("POST", "/load-test/start", e.keyA, spec(400))
	require.Equal(t, http.StatusForbidden, r.Status, "%s", r.Body)
	assert.Contains(t, strings.Join(r.errors(t), "\n"), "options.scenarios: the VU count changes 1604000 times")
}

// M6 bounded the count of names, and the review found their length
// unbounded: 1 000 names of 60 KB from a 200-byte script made a 120 MB
// result (the agent's RSS went from 64 MB to 851 MB to store it). Names
// and iteration errors are cut at loadtest.MaxNameBytes.
func TestLongNamesAreCut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.start(e.keyA, map[string]any{"test_type": "custom", "name": "fat", "script": `import { check } from "k6"
export const options = { vus: 1, iterations: 1 }
const big = "x".repeat(8000)
export default function () {
  for (let i = 0; i < 1000; i++) check(null, { ["c" + i + big]: () => true })
  throw new Error(big)
}`})
	st := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Completed, st.State, "%+v", st)
	r := e.do("GET", "/load-test/"+id+"/result", e.keyA, nil)
	assert.Less(t, len(r.Body), 4<<20, "a 200-byte script stored a %d MB result", len(r.Body)>>20)
}

// A sandboxed run's result is bounded as the child sends it: a script of
// thousands of custom metrics fails its own run, named, instead of handing
// the agent a result of any size to decode, store and analyse.
func TestSandboxResultIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSandbox(256), func(c *service.Config) {
		c.Sandbox.MaxResultBytes = 256 << 10
		c.InitTimeout = time.Minute // 3 000 metrics under the race detector on a busy machine
	})
	id := e.start(e.keyA, map[string]any{"test_type": "custom", "script": `import { Trend } from "k6/metrics"
const trends = []
for (let i = 0; i < 3000; i++) trends.push(new Trend("t" + i))
export const options = { vus: 1, iterations: 1 }
export default function () { for (const t of trends) t.add(1) }`})
	st := e.waitFinal(e.keyA, id)
	require.Equal(t, store.Failed, st.State, "%+v", st)
	assert.Contains(t, st.Error, "more than the agent keeps (262 kB)")
}

// A script whose init code is stuck where sobek cannot interrupt it (a
// backtracking regular expression) outlived init_timeout: the agent killed
// its child 10 s later and answered 500. Now: the 400 naming
// init_timeout, soon after it.
func TestUninterruptibleInitAnswers400(t *testing.T) {
	t.Parallel()
	const initTimeout = time.Second
	e := newEnv(t, withSandbox(256), func(c *service.Config) { c.InitTimeout = initTimeout })
	t0 := time.Now()
	r := e.do("POST", "/load-test/start", e.keyA, map[string]any{"test_type": "custom",
		"script": "/^(a+)+(?=b)b$/.test(\"a\".repeat(40) + \"!\")\nexport default function () {}"})
	took := time.Since(t0)
	assert.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "init_timeout")
	assert.Less(t, took, initTimeout+5*time.Second)
}

// Due slots start at once: they started one after another, each through
// its script's init code, so a tenant whose schedules spin in init delayed
// every other tenant's slots by init_timeout per schedule (39 s live).
func TestSlowInitSchedulesDelayNoOtherTenant(t *testing.T) {
	t.Parallel()
	const initTimeout = time.Second
	clock := &fakeClock{now: time.Date(2026, 5, 4, 10, 0, 30, 0, time.UTC)}
	e := newEnv(t, withClock(clock), func(c *service.Config) { c.InitTimeout = initTimeout })
	require.NoError(t, e.st.SetLimits(t.Context(), "tenant-a", store.Limits{MaxConcurrent: 10}))
	spin := map[string]any{"test_type": "custom", "script": "while (true) {}\nexport default function () {}"}
	for i := range 4 {
		r := e.do("POST", "/schedules", e.keyA, map[string]any{"name": fmt.Sprint("spin", i), "interval": "1h", "test": spin})
		require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	}
	clock.Set(clock.Now().Add(time.Second)) // tenant-b's slot falls just after tenant-a's
	r := e.do("POST", "/schedules", e.keyB, map[string]any{"name": "hourly", "interval": "1h",
		"test": e.spec(map[string]any{"options": map[string]any{"vus": 1, "iterations": 1}})})
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	var legit service.ScheduleInfo
	r.json(t, &legit)

	done := make(chan struct{})
	go func() { // owned: the test waits for done
		defer close(done)
		_, _ = e.srv.RunSchedules(context.Background(), legit.NextSlot)
	}()
	t0 := time.Now()
	var started time.Duration
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		var got service.ScheduleInfo
		e.do("GET", "/schedules/"+legit.ID, e.keyB, nil).json(t, &got)
		if got.LastRun != "" {
			started = time.Since(t0)
			break
		}
		select {
		case <-done:
		case <-time.After(20 * time.Millisecond):
		}
	}
	<-done
	require.NotZero(t, started, "tenant-b's slot never started")
	assert.Less(t, started, 2*initTimeout, "tenant-b's slot waited behind tenant-a's 4 spinning inits")
}

// A tenant holds at most half the init slots: with max_concurrent 2 on a
// 2-core agent, two starts whose init code spins held both slots for
// init_timeout each, again and again, and every other tenant's script
// start waited for them.
func TestOneTenantHoldsHalfTheInitSlots(t *testing.T) {
	t.Parallel()
	const initTimeout = 4 * time.Second
	e := newEnv(t, func(c *service.Config) { c.InitTimeout = initTimeout; c.MaxConcurrentInits = 2 })
	spin := map[string]any{"test_type": "custom", "script": "while (true) {}\nexport default function () {}"}
	spinBody, err := json.Marshal(spin)
	require.NoError(t, err)
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil { // cancelled in flight at the end, so no init spins on after the test
				req, _ := http.NewRequestWithContext(ctx, "POST", e.ts.URL+"/load-test/start", bytes.NewReader(spinBody))
				req.Header.Set("Authorization", "Bearer "+e.keyA)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	quick := map[string]any{"test_type": "custom", "script": "export const options = { vus: 1, iterations: 1 }\nexport default function () {}"}
	var slowest time.Duration
	// One init_timeout and a bit covers a whole spin of tenant-a's: had it
	// both slots, some start of tenant-b's would wait for one to time out.
	for end := time.Now().Add(initTimeout + initTimeout/4); time.Now().Before(end); {
		t0 := time.Now()
		r := e.do("POST", "/load-test/start", e.keyB, quick)
		slowest = max(slowest, time.Since(t0))
		require.Equal(t, http.StatusAccepted, r.Status, "%s", r.Body)
		var sr service.StartResponse
		r.json(t, &sr)
		e.waitFinal(e.keyB, sr.ID)
	}
	stop()
	wg.Wait()
	assert.Less(t, slowest, initTimeout/2, "tenant-b's 1-iteration script waited for tenant-a's spinning init code")
}
