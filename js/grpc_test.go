package js_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/grpctest"
	"github.com/loadlens/loadlens/metrics"
)

func grpcServer(t *testing.T, cfg grpctest.Config) string {
	t.Helper()
	srv, err := grpctest.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv.Addr
}

// TestGRPC holds what k6 v2.2.0 did with these scripts against the same
// echo server: the response of a unary call (status 0, the message in
// protojson with every field, int64 as a string; headers and trailers as
// arrays), a failed call (status 5, the empty message, error {code,
// message, details}), grpc_req_duration tagged method, name, service,
// status, url and the params' tags; a bidirectional stream (grpc_streams
// 1, 2 messages each way, the data events then end, grpc_req_duration at
// its end); the same service found by server reflection.
func TestGRPC(t *testing.T) {
	t.Parallel()
	addr := grpcServer(t, grpctest.Config{})
	r := script(`
import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
client.load(['.'], 'echo.proto');
export const options = { iterations: 1 };
export default async function () {
  client.connect(__ENV.ADDR, { plaintext: true });
  const r = client.invoke('echo.Echo/Say', { text: 'hi', n: 3, tags: ['a'] }, { metadata: { 'x-echo': 'v' }, tags: { my: 't' } });
  check(r, {
    'say status': (r) => r.status === grpc.StatusOK && r.error === null,
    'say message': (r) => JSON.stringify(r.message) === '{"text":"hi","n":"3","tags":["a"]}',
    'say metadata': (r) => r.headers['x-echo'][0] === 'v' && r.trailers['x-trailer'][0] === 'v',
  });
  const f = client.invoke('/echo.Echo/Fail', { text: 'nope', n: 5 });
  check(f, {
    'fail status': (f) => f.status === grpc.StatusNotFound,
    'fail error': (f) => JSON.stringify(f.error) === '{"code":5,"message":"nope","details":[]}',
    'fail message': (f) => JSON.stringify(f.message) === '{"text":"","n":"0","tags":[]}',
  });
  const a = await client.asyncInvoke('echo.Echo/Say', { text: 'async' });
  check(a, { 'async': (a) => a.message.text === 'async' });
  const got = [];
  const s = new grpc.Stream(client, 'echo.Echo/Chat', { tags: { st: 'x' } });
  s.on('data', (m) => got.push(m.text));
  s.on('end', () => { check(got.join(','), { 'stream': (g) => g === 'one,two' }); client.close(); });
  s.write({ text: 'one' });
  s.write({ text: 'two' });
  s.end();
}`, "echo.proto", grpctest.Proto).env("ADDR", addr)
	r.ndjson = true
	o := r.exec(t)
	require.NoError(t, o.err, o.logs.String())
	assert.Len(t, checks(t, o.res), 8)
	assert.Equal(t, 4.0, metricValue(t, o.res, "grpc_req_duration", "count"), "3 calls and the stream")
	for metric, want := range map[string]float64{"grpc_streams": 1, "grpc_streams_msgs_sent": 2, "grpc_streams_msgs_received": 2} {
		assert.Equal(t, want, metricValue(t, o.res, metric, "count"), metric)
	}
	samples := wsSamples(t, o, "grpc_req_duration")
	require.Len(t, samples, 4)
	assert.Equal(t, map[string]string{"group": "", "method": "Say", "my": "t", "name": "/echo.Echo/Say", "scenario": "default",
		"service": "echo.Echo", "status": "0", "url": addr + "/echo.Echo/Say"}, samples[0])
	assert.Equal(t, "5", samples[1]["status"])
	assert.Equal(t, map[string]string{"group": "", "method": "Chat", "name": "/echo.Echo/Chat", "scenario": "default",
		"service": "echo.Echo", "st": "x", "status": "0", "url": addr + "/echo.Echo/Chat"}, samples[3])
	assert.Positive(t, metricValue(t, o.res, metrics.DataSent, "count"), "the connection's bytes count")

	for _, cfg := range []grpctest.Config{{}, {OnlyV1Alpha: true}} {
		o = script(`
import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
export const options = { iterations: 1 };
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true, reflect: true });
  check(client.invoke('echo.Echo/Say', { text: 'refl' }), { 'reflection': (r) => r.message.text === 'refl' });
}`).env("ADDR", grpcServer(t, cfg)).exec(t)
		require.NoError(t, o.err, o.logs.String())
		assert.Len(t, checks(t, o.res), 1, "%+v", cfg)
	}
}
