package js_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inFlight is a server that counts the requests it serves at once. Each
// request waits until want are in flight together (or a while passed,
// should the client never get there), then lingers a little so that a
// client breaking its limit shows it; it answers its own path.
type inFlight struct {
	want int

	mu    sync.Mutex
	now   int
	most  int
	ready chan struct{}
}

func newInFlight(t *testing.T, want int) (*inFlight, string) {
	s := &inFlight{want: want, ready: make(chan struct{})}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func (s *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.now++
	s.most = max(s.most, s.now)
	if s.now == s.want {
		select {
		case <-s.ready:
		default:
			time.AfterFunc(20*time.Millisecond, func() { close(s.ready) })
		}
	}
	s.mu.Unlock()
	select {
	case <-s.ready:
	case <-r.Context().Done():
	case <-time.After(3 * time.Second): // the client never reached want: the test fails on max
	}
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	_, _ = fmt.Fprint(w, r.URL.Path)
}

func (s *inFlight) max() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most
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
			s, base := newInFlight(t, want)
			r := script(batchScript).env("BASE", base, "REFUSED", refused(t))
			if perHost > 0 {
				r = r.env("PER_HOST", strconv.Itoa(perHost))
			}
			o := r.exec(t)
			require.NoError(t, o.err, o.logs.String())
			assert.Empty(t, o.res.IterationErrors)
			checks(t, o.res)
			assert.Equal(t, want, s.max(), "the most requests in flight at once")
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
