package js_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/wsecho"
	"github.com/loadlens/loadlens/metrics"
)

// wsServer serves the echo on /ws and 200 "ok" on other paths.
func wsServer(t testing.TB) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/ws", wsecho.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// samples returns the samples of a metric in the run's NDJSON output.
func wsSamples(t *testing.T, o outcome, metric string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, line := range strings.Split(string(o.ndjson), "\n") {
		if !strings.Contains(line, `"metric":"`+metric+`"`) || !strings.Contains(line, `"type":"Point"`) {
			continue
		}
		out = append(out, pointTags(t, line))
	}
	return out
}

// TestK6WS holds what k6 v2.2.0 did with this script against the same
// echo server: the events in order (open, message, pong, close 1000),
// ws_sessions 1, ws_msgs_sent 2 (a ping is no message), ws_msgs_received
// 1, one ws_ping, ws_connecting and ws_session_duration, all tagged with
// url, status 101, subproto "" and the params' tags; the response's status
// 101 and its Sec-Websocket-Accept header.
func TestK6WS(t *testing.T) {
	t.Parallel()
	base := wsServer(t)
	r := script(`
import ws from 'k6/ws';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const events = [];
  const res = ws.connect(__ENV.WS + '/ws', { tags: { my: 't' } }, function (socket) {
    socket.on('open', () => { events.push('open'); socket.send('hello'); socket.ping(); });
    socket.on('message', (m) => { events.push('message ' + m); socket.setTimeout(() => socket.send('close'), 10); });
    socket.on('pong', () => events.push('pong'));
    socket.on('close', (c) => events.push('close ' + c));
    socket.setTimeout(() => { events.push('timeout'); socket.close(); }, 3000);
  });
  check(res, {
    'status 101': (r) => r.status === 101 && r.error === '' && r.url === __ENV.WS + '/ws',
    'accept header': (r) => typeof r.headers['Sec-Websocket-Accept'] === 'string',
  });
  check(events.filter((e) => e !== 'pong').join(','), { 'events': (e) => e === 'open,message hello,close 1000' });
  check(events, { 'pong': (e) => e.includes('pong') });
  const bad = ws.connect(__ENV.WS + '/nows', function () {});
  check(bad, { 'bad handshake': (r) => r.status === 200 && r.error === '' });
  const refused = ws.connect('ws://127.0.0.1:1/ws', function () {});
  check(refused, { 'refused': (r) => r.status === 0 && r.error.includes('connection refused') });
}`).env("WS", base)
	r.ndjson = true
	o := r.exec(t)
	require.NoError(t, o.err, o.logs.String())
	assert.Len(t, checks(t, o.res), 6)
	for metric, want := range map[string]float64{"ws_sessions": 3, "ws_msgs_sent": 2, "ws_msgs_received": 1} {
		assert.Equal(t, want, metricValue(t, o.res, metric, "count"), metric)
	}
	for metric, want := range map[string]float64{"ws_ping": 1, "ws_connecting": 3, "ws_session_duration": 3} {
		assert.Equal(t, want, metricValue(t, o.res, metric, "count"), metric)
	}
	sessions := wsSamples(t, o, "ws_sessions")
	require.Len(t, sessions, 3)
	assert.Equal(t, map[string]string{"group": "", "my": "t", "scenario": "default", "status": "101", "subproto": "", "url": base + "/ws"}, sessions[0])
	assert.Equal(t, "200", sessions[1]["status"])
	assert.NotContains(t, sessions[2], "status", "no handshake, no status tag, as k6")
	assert.Positive(t, metricValue(t, o.res, metrics.DataSent, "count"), "the socket's bytes count")
}

// pointTags returns the tags of an NDJSON Point line.
func pointTags(t *testing.T, line string) map[string]string {
	t.Helper()
	var p struct {
		Data struct {
			Tags map[string]string `json:"tags"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &p), line)
	return p.Data.Tags
}

// TestWebSocketsModule holds what k6 v2.2.0 did with the browser-style
// WebSocket of k6/experimental/websockets against the echo server: open
// (readyState 1), a text and a binary message back, close (readyState 3);
// ws_msgs_sent 3 (the close frame counts), ws_msgs_received 2, one
// session, tagged with name = url as well. The iteration waits for the
// socket to close. k6/experimental/websockets warns once that it is
// deprecated.
func TestWebSocketsModule(t *testing.T) {
	t.Parallel()
	base := wsServer(t)
	for _, module := range []string{"k6/experimental/websockets", "k6/websockets"} {
		r := script(`
import { WebSocket } from '`+module+`';
import { check } from 'k6';
export const options = { iterations: 1 };
export default function () {
  const events = [];
  const ws = new WebSocket(__ENV.WS + '/ws');
  ws.binaryType = 'arraybuffer';
  ws.addEventListener('open', () => { events.push('open ' + ws.readyState + ' ' + (ws.url === __ENV.WS + '/ws')); ws.send('one'); ws.send(new Uint8Array([1, 2, 3]).buffer); });
  let n = 0;
  ws.onmessage = (e) => { n++; events.push('message ' + typeof e.data + ' ' + (typeof e.data === 'string' ? e.data : e.data.byteLength)); if (n === 2) ws.close(); };
  ws.addEventListener('close', () => {
    events.push('close ' + ws.readyState);
    check(events.join(','), { 'events': (e) => e === 'open 1 true,message string one,message object 3,close 3' });
  });
}`).env("WS", base)
		r.ndjson = true
		o := r.exec(t)
		require.NoError(t, o.err, o.logs.String())
		assert.Len(t, checks(t, o.res), 1, module)
		deprecated := 0
		if module == "k6/experimental/websockets" {
			deprecated = 1 // once a run, as k6 warns
		}
		assert.Len(t, o.logs.lines("level=WARN", module+" is deprecated", "Please use k6/websockets instead."), deprecated, module)
		for metric, want := range map[string]float64{"ws_sessions": 1, "ws_msgs_sent": 3, "ws_msgs_received": 2, "ws_connecting": 1, "ws_session_duration": 1} {
			assert.Equal(t, want, metricValue(t, o.res, metric, "count"), "%s %s", module, metric)
		}
		sessions := wsSamples(t, o, "ws_sessions")
		require.Len(t, sessions, 1)
		assert.Equal(t, map[string]string{"group": "", "name": base + "/ws", "scenario": "default", "status": "101", "subproto": "", "url": base + "/ws"}, sessions[0])
	}
}

// TestWSSessionEnds holds what k6 v2.2.0 did when a session ends other
// than by a close frame: a k6/ws handler that throws closes the socket
// with 1001 and runs the close handlers before the exception ends the
// iteration, and the session is recorded; a session the end of the
// duration interrupts runs no close handler and records no
// ws_session_duration; a WebSocket listener that throws fires close with
// readyState 3, no code and reason "", and no ws_session_duration. A
// session's duration starts with its handshake.
func TestWSSessionEnds(t *testing.T) {
	t.Parallel()
	base := wsServer(t) + "/ws"
	for name, tc := range map[string]struct {
		code      string
		durations float64
		logged    string
	}{
		"k6/ws throws": {code: `
import ws from 'k6/ws';
export const options = { iterations: 1 };
export default function () {
  ws.connect(__ENV.WS, function (socket) {
    socket.on('open', () => socket.send('x'));
    socket.on('message', () => { throw new Error('boom'); });
    socket.on('close', (c) => console.log('closed ' + c));
  });
  console.log('not reached');
}`, durations: 1, logged: "closed 1001"},
		"k6/ws interrupted": {code: `
import ws from 'k6/ws';
export const options = { scenarios: { a: { executor: 'constant-vus', vus: 1, duration: '1s', gracefulStop: '0s' } } };
export default function () {
  ws.connect(__ENV.WS, function (socket) {
    socket.on('open', () => socket.setInterval(() => socket.send('x'), 20));
    socket.on('close', (c) => console.log('closed ' + c));
  });
}`},
		"WebSocket throws": {code: `
import { WebSocket } from 'k6/websockets';
export const options = { iterations: 1 };
export default function () {
  const ws = new WebSocket(__ENV.WS);
  ws.onopen = () => ws.send('x');
  ws.onmessage = () => { throw new Error('boom'); };
  ws.onclose = (e) => console.log('closed ' + e.code + ' [' + e.reason + '] ' + ws.readyState);
}`, logged: "closed undefined [] 3"},
	} {
		o := script(tc.code).env("WS", base).exec(t)
		require.NoError(t, o.err, name)
		assert.Equal(t, 1.0, metricValue(t, o.res, "ws_sessions", "count"), name)
		if tc.durations == 0 {
			assert.NotContains(t, o.res.Metrics, "ws_session_duration", name)
		} else {
			assert.Equal(t, tc.durations, metricValue(t, o.res, "ws_session_duration", "count"), name)
		}
		closed := o.logs.lines("closed")
		if tc.logged == "" {
			assert.Empty(t, closed, name)
		} else {
			require.Len(t, closed, 1, name)
			assert.Contains(t, closed[0], tc.logged, name)
			assert.Len(t, o.logs.lines("boom"), 1, "%s: the exception after the close: %s", name, o.logs)
		}
		assert.Empty(t, o.logs.lines("not reached"), name)
	}

	o := script(`
import ws from 'k6/ws';
export const options = { iterations: 1 };
export default function () {
  ws.connect(__ENV.WS, function (socket) {
    socket.on('open', () => socket.setTimeout(() => socket.close(), 50));
  });
}`).env("WS", base).exec(t)
	require.NoError(t, o.err)
	connecting := metricValue(t, o.res, "ws_connecting", "max")
	assert.GreaterOrEqual(t, metricValue(t, o.res, "ws_session_duration", "max"), connecting+50, "the handshake is in the session")
}
