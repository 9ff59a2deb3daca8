package js_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/inflight"
)

// asyncServer serves the asyncRequest tests:
//
//	/gate/...     a gate for 4 requests at once (inflight.New(4)), answering the path
//	/hold/...     a gate for 2 that holds every request until its context ends
//	/full         answers once both /hold requests are in flight
//	/slow/{k}     answers "released" once /release/{k} was requested
//	/release/{k}  releases /slow/{k}
//	/echo         answers the method and the body
type asyncServer struct {
	gate, hold *inflight.Gate
	mu         sync.Mutex
	release    map[string]chan struct{}
}

func newAsyncServer(t *testing.T) (*asyncServer, string) {
	s := &asyncServer{gate: inflight.New(4), hold: inflight.New(2), release: map[string]chan struct{}{}}
	s.hold.Hold = true
	mux := http.NewServeMux()
	mux.Handle("/gate/", s.gate)
	mux.Handle("/hold/", s.hold)
	mux.HandleFunc("/full", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.hold.Full():
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/slow/{k}", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.ch(r.PathValue("k")):
			_, _ = fmt.Fprint(w, "released")
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/release/{k}", func(w http.ResponseWriter, r *http.Request) {
		ch := s.ch(r.PathValue("k"))
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-ch:
		default:
			close(ch)
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		var b [64]byte
		n, _ := r.Body.Read(b[:])
		_, _ = fmt.Fprintf(w, "%s %s", r.Method, b[:n])
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *asyncServer) ch(k string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.release[k] == nil {
		s.release[k] = make(chan struct{})
	}
	return s.release[k]
}

func TestAsyncRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script string
		exit   int
		checks int // the checks the script makes, all passing
		check  func(t *testing.T, o outcome, s *asyncServer)
	}{
		{name: "requests of Promise.all run at once; values in argument order", checks: 4, script: `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default async function () {
  const B = __ENV.BASE;
  const ps = ['/gate/a', '/gate/b', '/gate/c', '/gate/d'].map((p) => http.asyncRequest('GET', B + p));
  check(ps, { 'asyncRequest returns a Promise': (ps) => ps.every((p) => p instanceof Promise) });
  const rs = await Promise.all(ps);
  check(rs, {
    'responses in argument order': (rs) => rs.map((r) => r.body).join() === '/gate/a,/gate/b,/gate/c,/gate/d',
    'responses with status and timings': (rs) => rs.every((r) => r.status === 200 && r.timings.duration > 0),
  });
  const e = await http.asyncRequest('POST', B + '/echo', 'hi', { headers: { 'X-A': '1' } });
  check(e, { 'body and params are sent': (e) => e.body === 'POST hi' && e.request.headers['X-A'][0] === '1' });
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			assert.Equal(t, 4, s.gate.Max(), "the most requests in flight at once")
			assert.Equal(t, 5.0, metricValue(t, o.res, "http_reqs", "count"), "every request's samples")
			assert.Equal(t, 5.0, metricValue(t, o.res, "http_req_duration", "count"))
			assert.Positive(t, metricValue(t, o.res, "data_sent", "count"), "the async clients' bytes are counted")
			assert.Positive(t, metricValue(t, o.res, "data_received", "count"))
		}},
		{name: "timers, sync requests and other awaits run while a request is in flight", checks: 3, script: `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
export default async function () {
  const B = __ENV.BASE;
  const order = [];
  const slow = http.asyncRequest('GET', B + '/slow/t', null, { timeout: '5s' }).then((r) => order.push('slow ' + r.body));
  setTimeout(() => { order.push('timer'); order.push('release ' + http.get(B + '/release/t').status); }, 0);
  order.push('returned');
  await slow;
  check(order, { 'a timer runs while a request is in flight': (o) => o.join() === 'returned,timer,release 200,slow released' });

  const p = http.asyncRequest('GET', B + '/slow/s', null, { timeout: '5s' });
  const r = http.get(B + '/release/s');
  check([r.status, (await p).body], { 'a sync request runs while one is in flight': ([s, b]) => s === 200 && b === 'released' });

  const q = http.asyncRequest('GET', B + '/slow/w', null, { timeout: '5s' });
  const w = await http.asyncRequest('GET', B + '/release/w');
  check([w.status, (await q).body], { 'another await settles first': ([s, b]) => s === 200 && b === 'released' });
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			assert.Equal(t, 6.0, metricValue(t, o.res, "http_reqs", "count"))
		}},
		{name: "the iteration waits for requests nobody awaits", script: `
import http from 'k6/http';
import { Counter } from 'k6/metrics';
const settled = new Counter('settled');
export const options = { iterations: 2 };
export default function () {
  http.asyncRequest('GET', __ENV.BASE + '/echo').then((r) => settled.add(r.status === 200 ? 1 : 0));
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			assert.Equal(t, 2.0, metricValue(t, o.res, "settled", "count"))
			assert.Equal(t, 2.0, metricValue(t, o.res, "http_reqs", "count"))
		}},
		{name: "network errors resolve; throw rejects; invalid arguments reject", checks: 5, script: `
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1 };
async function reason(p) { try { await p; return ''; } catch (e) { return String(e); } }
export default async function () {
  const R = __ENV.REFUSED;
  const r = await http.asyncRequest('GET', R);
  check(r, { 'a network error is a response': (r) => r.status === 0 && r.error_code === 1212 && r.error !== '' });
  check(await reason(http.asyncRequest('GET', R, null, { throw: true })), { 'params.throw rejects': (e) => e.includes(R) });
  let p;
  try { p = http.asyncRequest('GET', null); } catch (e) { p = 'threw'; }
  check(p, { 'invalid arguments do not throw at once': (p) => p instanceof Promise });
  check(await reason(p), { 'a missing URL rejects': (e) => e.includes('TypeError') && e.includes('URL is required') });
  check(await reason(http.asyncRequest('GET', R, null, { timeout: -1 })), { 'a bad timeout rejects': (e) => e.includes('params.timeout') });
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			assert.Equal(t, 2.0, metricValue(t, o.res, "http_reqs", "count"), "the refused requests' samples")
		}},
		{name: "the throw option rejects", script: `
import http from 'k6/http';
export const options = { iterations: 1, throw: true };
export default async function () { await http.asyncRequest('GET', __ENV.REFUSED); }
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			require.Len(t, o.res.IterationErrors, 1)
			assert.Contains(t, o.res.IterationErrors[0].Message, "connection refused")
		}},
		{name: "abort interrupts the requests in flight", exit: 108, script: `
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const after = new Counter('after');
export const options = { iterations: 1 };
export default async function () {
  const B = __ENV.BASE;
  setTimeout(() => { http.get(B + '/full', { timeout: '5s' }); exec.test.abort('enough'); }, 0);
  await Promise.all([http.asyncRequest('GET', B + '/hold/a', null, { timeout: '5s' }), http.asyncRequest('GET', B + '/hold/b', null, { timeout: '5s' })]);
  after.add(1);
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			assert.Equal(t, 2, s.hold.Max(), "both requests were in flight")
			assert.NotContains(t, o.res.Metrics, "after", "nothing runs after abort")
			assert.Equal(t, 1.0, metricValue(t, o.res, "http_reqs", "count"), "only /full completed")
		}},
		{name: "gracefulStop interrupts the requests in flight", script: `
import http from 'k6/http';
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '0s' } } };
export default async function () {
  await Promise.all([http.asyncRequest('GET', __ENV.BASE + '/hold/a'), http.asyncRequest('GET', __ENV.BASE + '/hold/b')]);
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			require.Len(t, o.res.Scenarios, 1)
			assert.EqualValues(t, 1, o.res.Scenarios[0].Interrupted)
			assert.NotContains(t, o.res.Metrics, "http_reqs", "interrupted requests have no samples")
		}},
		{name: "an exception interrupts the requests in flight", script: `
import http from 'k6/http';
export const options = { iterations: 1 };
export default function () {
  http.asyncRequest('GET', __ENV.BASE + '/hold/a', null, { timeout: '5s' });
  throw new Error('boom');
}
`, check: func(t *testing.T, o outcome, s *asyncServer) {
			require.Len(t, o.res.IterationErrors, 1)
			assert.Contains(t, o.res.IterationErrors[0].Message, "boom")
			assert.NotContains(t, o.res.Metrics, "http_reqs", "the request was interrupted, not timed out")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, base := newAsyncServer(t)
			o := script(c.script).env("BASE", base, "REFUSED", refused(t)).exec(t)
			assert.Equal(t, c.exit, o.exit, "exit code; err: %v\n%s", o.err, o.logs.String())
			if c.exit == 0 {
				require.NoError(t, o.err, o.logs.String())
			}
			assert.Len(t, checks(t, o.res), c.checks)
			c.check(t, o, s)
		})
	}
}
