package js_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVUIsolation runs three VUs of one program side by side: what the
// VUs share (compiled modules, k6/http's table of exports, the HTTP
// client's pooled buffers) must carry no VU's globals, cookies or
// response callback to another.
func TestVUIsolation(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	o := script(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } } };
export default function () {
  if (globalThis.who === undefined) {
    globalThis.who = __VU;
    http.setResponseCallback(http.expectedStatuses(__VU === 1 ? 404 : 200));
  }
  const jar = http.cookieJar();
  jar.set(__ENV.URL, 'vu', String(__VU));
  const r = http.get(__ENV.URL + '/missing');
  check(r, {
    'own global': () => globalThis.who === __VU,
    'own cookie': () => { const c = jar.cookiesForURL(__ENV.URL).vu; return c.length === 1 && c[0] === String(__VU); },
  });
}`).env("URL", srv.URL).exec(t)
	require.NoError(t, o.err, o.logs.String())
	cs := checks(t, o.res)
	assert.Len(t, cs, 2)
	assert.Equal(t, 6.0*2, metricValue(t, o.res, "checks", "passes"))
	assert.Equal(t, 4.0, metricValue(t, o.res, "http_req_failed", "passes"),
		"VU 1 expects its 404s, VUs 2 and 3 count theirs as failed")
}
