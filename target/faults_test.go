package target_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

// Latency faults under synctest's fake clock: exact waits, on the faulted
// endpoint only.
func TestLatencyFaults(t *testing.T) {
	t.Parallel()
	const ms = time.Millisecond
	for _, tc := range []struct {
		name  string
		fault target.Fault
		// latency of /api/products/3 and of / at each offset
		at        []time.Duration
		want      []time.Duration
		untouched time.Duration // latency of /
	}{
		{name: "step ×10 on one endpoint from 10s",
			fault: target.Fault{Kind: target.FaultStep, Endpoint: "/api/products/3", At: 10 * time.Second, Factor: 10},
			at:    []time.Duration{0, 9 * time.Second, 10 * time.Second, time.Minute},
			want:  []time.Duration{5 * ms, 5 * ms, 50 * ms, 50 * ms}, untouched: 5 * ms},
		{name: "step +100ms for 5s",
			fault: target.Fault{Kind: target.FaultStep, Endpoint: "/api/products/3", At: 10 * time.Second, For: 5 * time.Second, Delay: 100 * ms},
			at:    []time.Duration{10 * time.Second, 14 * time.Second, 15 * time.Second},
			want:  []time.Duration{105 * ms, 105 * ms, 5 * ms}, untouched: 5 * ms},
		{name: "drift 2ms per second from 10s",
			fault: target.Fault{Kind: target.FaultDrift, Endpoint: "/api/products/3", At: 10 * time.Second},
			at:    []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second},
			want:  []time.Duration{5 * ms, 5 * ms, 25 * ms, 65 * ms}, untouched: 5 * ms},
		{name: "stall of 1s every 5s from 10s holds requests to its end",
			fault: target.Fault{Kind: target.FaultStall, At: 10 * time.Second},
			at:    []time.Duration{9 * time.Second, 10*time.Second + 400*ms, 12 * time.Second, 15 * time.Second, 20*time.Second + 900*ms},
			want:  []time.Duration{5 * ms, 605 * ms, 5 * ms, 1005 * ms, 105 * ms}, untouched: 5 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				srv, err := target.New(target.Config{Latency: 5 * ms, Faults: []target.Fault{tc.fault}})
				require.NoError(t, err)
				defer srv.Close()
				for i, at := range tc.at {
					time.Sleep(time.Until(start.Add(at))) // fake time
					d, code := latency(t, srv.Handler(), "/api/products/3")
					assert.Equal(t, 200, code)
					assert.Equal(t, tc.want[i], d, "at %v", at)
					if tc.fault.Endpoint != "" {
						d, _ := latency(t, srv.Handler(), "/")
						assert.Equal(t, tc.untouched, d, "other endpoint at %v", at)
					}
				}
			})
		})
	}
}

func TestRatedFaultsHitExactly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		fault  target.Fault
		status int
		body   string
		hits   int
	}{
		{name: "burst of 20 %", fault: target.Fault{Kind: target.FaultBurst, Endpoint: "/api/products/3", Rate: 0.2}, hits: 200},
		{name: "burst default 12 %", fault: target.Fault{Kind: target.FaultBurst, Endpoint: "/api/products/3"}, hits: 120},
		{name: "exception on every request", fault: target.Fault{Kind: target.FaultException, Endpoint: "/api/products/3"},
			status: 200, body: "<html>", hits: 1000},
		{name: "exception on half", fault: target.Fault{Kind: target.FaultException, Endpoint: "/api/products/3", Rate: 0.5},
			status: 200, body: "<html>", hits: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, err := target.New(target.Config{Faults: []target.Fault{tc.fault}, Seed: 4})
			require.NoError(t, err)
			defer srv.Close()
			hits := 0
			for range 1000 {
				w := serve(t.Context(), srv.Handler(), "GET", "/api/products/3")
				okJSON := json.Valid(w.Body.Bytes())
				switch {
				case tc.status == 0 && w.Code >= 500:
					hits++
				case tc.status != 0 && w.Code == tc.status && strings.HasPrefix(w.Body.String(), tc.body):
					hits++
					assert.False(t, okJSON)
				default:
					assert.Equal(t, 200, w.Code)
					assert.True(t, okJSON)
				}
				other := serve(t.Context(), srv.Handler(), "GET", "/api/products/4")
				assert.Equal(t, 200, other.Code, "another endpoint is untouched")
				assert.True(t, json.Valid(other.Body.Bytes()))
			}
			assert.Equal(t, tc.hits, hits)
			st := srv.Stats()
			require.Len(t, st.Faults, 1)
			assert.Equal(t, uint64(1000), st.Faults[0].Requests, "only the faulted endpoint's requests")
		})
	}
}

func TestLeakFaultOnOneEndpoint(t *testing.T) {
	t.Parallel()
	srv, err := target.New(target.Config{Faults: []target.Fault{{Kind: target.FaultLeak, Endpoint: "/api/products", Bytes: 4096}}})
	require.NoError(t, err)
	defer srv.Close()
	for range 10 {
		serve(t.Context(), srv.Handler(), "GET", "/api/products")
		serve(t.Context(), srv.Handler(), "GET", "/")
	}
	assert.Equal(t, int64(10*4096), srv.Stats().RetainedBytes)
	assert.Empty(t, srv.Events(), "not capped")
}

// A leak that reaches the cap stops growing: the events log says when.
func TestLeakCapIsLogged(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	srv, err := target.New(target.Config{LeakMax: 10_000, Events: &log, Faults: []target.Fault{{Kind: target.FaultLeak, Bytes: 3000}}})
	require.NoError(t, err)
	defer srv.Close()
	for range 6 {
		serve(t.Context(), srv.Handler(), "GET", "/")
	}
	ev := srv.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, "capped", ev[0].What)
	assert.Equal(t, target.FaultLeak, ev[0].Kind)
	assert.Contains(t, log.String(), `"what":"capped"`)
	assert.Equal(t, int64(10_000), srv.Stats().RetainedBytes)
}

func TestSpreadIsLogNormalAndDeterministic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		lat := func(seed uint64) []float64 {
			srv, err := target.New(target.Config{Latency: 10 * time.Millisecond, Spread: 0.5, Seed: seed})
			require.NoError(t, err)
			defer srv.Close()
			out := make([]float64, 2000)
			for i := range out {
				d, _ := latency(t, srv.Handler(), "/")
				out[i] = float64(d) / float64(time.Millisecond)
			}
			return out
		}
		a := lat(1)
		assert.Equal(t, a, lat(1), "same seed, same latencies")
		assert.NotEqual(t, a, lat(2))
		var sum, logSum, logSq float64
		for _, x := range a {
			sum += x
			logSum += math.Log(x)
			logSq += math.Log(x) * math.Log(x)
		}
		n := float64(len(a))
		assert.InDelta(t, 10, sum/n, 0.5, "the mean is kept")
		sd := math.Sqrt(logSq/n - (logSum/n)*(logSum/n))
		assert.InDelta(t, 0.5, sd, 0.03, "σ of log latency")
	})
}

func TestRandomErrorsVaryLikeABinomial(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		srv, err := target.New(target.Config{ErrorRate: 0.05, RandomErrors: true, Seed: seed})
		require.NoError(t, err)
		defer srv.Close()
		return codes(t.Context(), srv.Handler(), "/", 20_000)
	}
	a := run(3)
	assert.Equal(t, a, run(3))
	// Failures per window of 100 vary (evenly spread they would all be 5).
	counts := map[int]int{}
	total := 0
	for i := 0; i < len(a); i += 100 {
		c := 0
		for _, code := range a[i : i+100] {
			if code >= 500 {
				c++
			}
		}
		counts[c]++
		total += c
	}
	assert.InDelta(t, 1000, total, 100, "5 % of 20 000 (±3.2 σ)")
	assert.Greater(t, len(counts), 5, "window counts vary: %v", counts)
}

// A reset fault answers nothing: the client's connection is reset.
func TestResetFault(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{Faults: []target.Fault{{Kind: target.FaultReset, Endpoint: "/api/products/3", Rate: 0.5}}})
	var resets, oks int
	for range 20 {
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL()+"/api/products/3", nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		if err != nil {
			assert.True(t, errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "EOF"), "reset, got %v", err)
			resets++
			continue
		}
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		oks++
	}
	assert.Equal(t, 10, resets)
	assert.Equal(t, 10, oks)
	code, _ := do(t, c, "GET", srv.URL()+"/", "")
	assert.Equal(t, 200, code, "other endpoints answer")
}

// A refuse fault closes the listener for its window and listens again;
// the events log records both ends.
func TestRefuseFaultAndEventsLog(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	srv, err := target.New(target.Config{Events: &log, Faults: []target.Fault{
		{Kind: target.FaultStep, Endpoint: "/", Factor: 2},
		{Kind: target.FaultRefuse, At: 300 * time.Millisecond, For: 700 * time.Millisecond},
	}})
	require.NoError(t, err)
	require.NoError(t, srv.Start(t.Context(), "127.0.0.1:0"))
	defer srv.Close()
	addr := srv.Addr().String()
	dial := func() error {
		var d net.Dialer
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	require.NoError(t, dial(), "listening before the window")
	poll := func(what string, ok func(error) bool) {
		deadline := time.Now().Add(10 * time.Second)
		for err := dial(); !ok(err); err = dial() {
			require.True(t, time.Now().Before(deadline), "%s: last dial error %v", what, err)
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	poll("refused during the window", func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) })
	poll("listening again after it", func(err error) bool { return err == nil })

	ev := srv.Events()
	require.Len(t, ev, 3)
	assert.Equal(t, []string{"start", "start", "end"}, []string{ev[0].What, ev[1].What, ev[2].What})
	assert.Equal(t, target.FaultStep, ev[0].Kind)
	assert.Equal(t, "/", ev[0].Endpoint)
	assert.Equal(t, 300*time.Millisecond, ev[1].Offset)
	assert.Equal(t, time.Second, ev[2].Offset)
	assert.Equal(t, target.FaultRefuse, ev[2].Kind)
	assert.Equal(t, 700*time.Millisecond, ev[2].Time.Sub(ev[1].Time))
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	require.Len(t, lines, 3)
	var last target.Event
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &last))
	assert.Equal(t, ev[2].Offset, last.Offset)
	assert.True(t, ev[2].Time.Equal(last.Time))
}

func TestFaultValidation(t *testing.T) {
	t.Parallel()
	err := target.Config{Faults: []target.Fault{
		{Kind: "spike"},
		{Kind: target.FaultBurst, Rate: 2, Endpoint: "api"},
		{Kind: target.FaultRefuse, Endpoint: "/x"},
		{Kind: target.FaultStall, Period: time.Second, Length: 2 * time.Second, At: -1},
		{Kind: target.FaultStep, Factor: 0.5},
	}}.Validate()
	require.Error(t, err)
	want := []string{
		`faults[0].kind: unknown fault "spike"`,
		"faults[1].endpoint: must be a path starting with /",
		"faults[1].rate: must be in [0, 1], got 2",
		"faults[2].endpoint: must be empty for refuse",
		"faults[3].at: must be >= 0",
		"faults[3].length: must be at most the period (1s), got 2s",
		"faults[4].factor: must be 0 (default) or in [1, 1000], got 0.5",
	}
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
}

func TestParseFault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want target.Fault
		err  string
	}{
		{in: "step", want: target.Fault{Kind: target.FaultStep}},
		{in: "Step,at=10s,for=20s,endpoint=/api/products,factor=10",
			want: target.Fault{Kind: target.FaultStep, At: 10 * time.Second, For: 20 * time.Second, Endpoint: "/api/products", Factor: 10}},
		{in: "stall,period=5s,length=300", want: target.Fault{Kind: target.FaultStall, Period: 5 * time.Second, Length: 300 * time.Millisecond}},
		{in: "leak,bytes=64KiB", want: target.Fault{Kind: target.FaultLeak, Bytes: 64 << 10}},
		{in: "saturate,slots=4,hold=20ms", want: target.Fault{Kind: target.FaultSaturate, Slots: 4, Hold: 20 * time.Millisecond}},
		{in: "drift,slope=3ms,delay=1ms,rate=0.5", want: target.Fault{Kind: target.FaultDrift, Slope: 3 * time.Millisecond, Delay: time.Millisecond, Rate: 0.5}},
		{in: "spike", err: `unknown fault "spike"`},
		{in: "step,at", err: `"at": want key=value`},
		{in: "step,at=soon,size=3,slots=x", err: "at: invalid duration"},
		{in: "step,size=3", err: "size: unknown field"},
		{in: "step,factor=NaN", err: "factor: want a finite number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := target.ParseFault(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := target.ParseFault(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

func TestFaultJSONRoundTrip(t *testing.T) {
	t.Parallel()
	in := target.Config{Seed: 3, Spread: 0.4, RandomErrors: true, Faults: []target.Fault{
		{Kind: target.FaultStall, Endpoint: "/", At: 2 * time.Second, Period: 4 * time.Second, Length: 500 * time.Millisecond},
		{Kind: target.FaultLeak, Bytes: 1 << 20, For: time.Minute},
	}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"period":"4s"`)
	var out target.Config
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in.Faults, out.Faults)
	assert.Equal(t, in.Spread, out.Spread)
	assert.True(t, out.RandomErrors)
}

// syncBuffer is a bytes.Buffer safe for the scheduler's writes and the
// test's read.
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

func FuzzParseFault(f *testing.F) {
	for _, s := range []string{"step", "step,at=10s,for=20s,endpoint=/api/products,factor=10", "stall,period=5s,length=300",
		"leak,bytes=64KiB", "saturate,slots=4,hold=20ms", "reset,rate=0.5", "step,at", "x,y=z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := target.ParseFault(s)
		if err != nil || strings.Contains(got.Endpoint, ",") || strings.Contains(got.Endpoint, "=") {
			return
		}
		again, err := target.ParseFault(got.String())
		require.NoError(t, err, "String of %+v", got)
		require.Equal(t, got, again)
	})
}

// Faults are timed from Epoch, which may lie in the future: a generator in
// another process can start its run at the same instant.
func TestEpochTimesFaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		epoch := time.Now().Add(10 * time.Second)
		srv, err := target.New(target.Config{Epoch: epoch, Faults: []target.Fault{{Kind: target.FaultStep, Delay: time.Second, At: 5 * time.Second}}})
		require.NoError(t, err)
		defer srv.Close()
		d, _ := latency(t, srv.Handler(), "/")
		assert.Zero(t, d, "before the epoch")
		time.Sleep(time.Until(epoch.Add(4 * time.Second)))
		d, _ = latency(t, srv.Handler(), "/")
		assert.Zero(t, d, "4 s after it")
		time.Sleep(time.Until(epoch.Add(5 * time.Second)))
		d, _ = latency(t, srv.Handler(), "/")
		assert.Equal(t, time.Second, d, "5 s after it")
	})
}
