package service_test

import (
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
	"github.com/loadlens/loadlens/store"
)

// BenchmarkStatusPolling measures GET /load-test/{id}/status while a test
// runs (2 VUs against a loopback target): one request every 5 ms (200
// req/s, open loop) spread over 8 polling clients. It reports the p50 and
// p99 latency of the polls. Run it with -benchtime 2000x (10 s).
func BenchmarkStatusPolling(b *testing.B) {
	e := newEnv(b)
	id := e.start(e.keyA, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "5m"}}))
	e.waitFor(e.keyA, id, "running", func(st service.RunStatus) bool { return st.State == store.Running && st.Requests > 0 })
	defer func() {
		require.Equal(b, http.StatusAccepted, e.do("POST", "/load-test/"+id+"/cancel", e.keyA, nil).Status)
		e.waitFinal(e.keyA, id)
	}()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	url := e.ts.URL + "/load-test/" + id + "/status"
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
	)
	jobs := make(chan struct{}, 256)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range jobs {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+e.keyA)
				t0 := time.Now()
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				latencies = append(latencies, d)
				if !ok {
					failures++
				}
				mu.Unlock()
			}
		})
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for b.Loop() {
		<-tick.C
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	require.Zero(b, failures)
	slices.Sort(latencies)
	q := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkNeighbourPace measures what a hostile tenant's sandboxed script
// costs another tenant: the requests per second of a 2-VU request plan
// (4 s, loopback target answering in 10 ms) alone, beside a script whose 4
// VUs spin, and beside one that allocates until its memory limit stops it.
// It reports each pace and its ratio to alone (1 = no cost).
//
//	go test -run '^$' -bench NeighbourPace -benchtime 1x ./service/
func BenchmarkNeighbourPace(b *testing.B) {
	e := newEnv(b, withSandbox(256))
	require.NoError(b, e.st.SetLimits(b.Context(), "tenant-a", store.Limits{MaxConcurrent: 10}))
	pace := func() float64 {
		id := e.start(e.keyB, e.spec(map[string]any{"options": map[string]any{"vus": 2, "duration": "4s"}}))
		st := e.waitFinal(e.keyB, id)
		require.Equal(b, store.Completed, st.State)
		return st.RequestsPerSecond
	}
	hostile := map[string]string{
		"spin": `export const options = { scenarios: { s: { executor: "constant-vus", vus: 4, duration: "6s", gracefulStop: "1s" } } }
export default function () { while (true) {} }`,
		"bomb": `const hoard = []
export const options = { scenarios: { s: { executor: "constant-vus", vus: 4, duration: "6s" } } }
export default function () { hoard.push(new Uint8Array(1 << 20)) }`,
	}
	for b.Loop() {
		alone := pace()
		b.ReportMetric(alone, "alone-req/s")
		for _, name := range []string{"spin", "bomb"} {
			id := e.start(e.keyA, map[string]any{"test_type": "custom", "script": hostile[name]})
			e.waitFor(e.keyA, id, "running", func(st service.RunStatus) bool { return st.State != store.Queued })
			beside := pace()
			b.ReportMetric(beside, name+"-req/s")
			b.ReportMetric(beside/alone, name+"-ratio")
			e.waitFinal(e.keyA, id)
		}
	}
}
