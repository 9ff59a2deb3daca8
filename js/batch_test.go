package js_test

import (
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/inflight"
)

// newGate serves an in-flight counter that holds requests until want are
// in flight, then 20 ms more, so that a client over its limit shows it.
func newGate(t *testing.T, want int) (*inflight.Gate, string) {
	g := inflight.New(want)
	g.Linger = 20 * time.Millisecond
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

const batchScript = `
import http from 'k6/http';
import { check } from 'k6';

export const options = { iterations: 1 };
if (__ENV.PER_HOST) options.batchPerHost = Number(__ENV.PER_HOST);

export default function () {
  const B = __ENV.BASE;
  const rs = http.batch([` + "`${B}/a`, ['GET', `${B}/b`], { method: 'GET', url: `${B}/c` }, `${B}/d`, `${B}/e`, `${B}/f`" + `]);
  check(rs, {
    'array: responses in request order': (rs) => rs.map((r) => r.body).join() === '/a,/b,/c,/d,/e,/f',
    'array: request headers as sent': (rs) => rs.every((r) => r.request.headers['User-Agent'].length === 1),
  });
  const ro = http.batch({ y: ` + "`${B}/y`" + `, x: ['GET', ` + "`${B}/x`" + `] });
  check(ro, { 'object: by key': (ro) => Object.keys(ro).join() === 'y,x' && ro.x.body === '/x' && ro.y.body === '/y' });
  const bad = http.batch([__ENV.REFUSED, ` + "`${B}/ok`" + `]);
  check(bad, { 'a failed request is its own response': (b) => b[0].status === 0 && b[0].error !== '' && b[1].body === '/ok' });
  let thrown = '';
  try {
    http.batch([` + "`${B}/t`" + `, [ 'GET', __ENV.REFUSED, null, { throw: true } ]]);
  } catch (e) {
    thrown = String(e);
  }
  check(thrown, { 'params.throw throws the failed request': (t) => t.includes(__ENV.REFUSED) });
}
`

func TestBatchParallel(t *testing.T) {
	t.Parallel()
	for _, perHost := range []int{0, 2, 5} {
		want := 6 // k6's default batchPerHost: all 6 requests at once
		if perHost > 0 {
			want = perHost
		}
		name := "default batchPerHost"
		if perHost > 0 {
			name = fmt.Sprintf("batchPerHost=%d", perHost)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, base := newGate(t, want)
			r := script(batchScript).env("BASE", base, "REFUSED", refused(t))
			if perHost > 0 {
				r = r.env("PER_HOST", strconv.Itoa(perHost))
			}
			o := r.exec(t)
			require.NoError(t, o.err, o.logs.String())
			assert.Empty(t, o.res.IterationErrors)
			checks(t, o.res)
			assert.Equal(t, want, s.Max(), "the most requests in flight at once")
			assert.Equal(t, 12.0, metricValue(t, o.res, "http_reqs", "count"))
			assert.Positive(t, metricValue(t, o.res, "data_sent", "count"), "the batch's bytes are counted")
			assert.Positive(t, metricValue(t, o.res, "data_received", "count"))
		})
	}
}

// refused returns a loopback URL nothing listens on.
func refused(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/"
}
