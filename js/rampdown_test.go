package js_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRampDownInterruptsQuietly holds k6 v2.2.0's run of 3 VUs ramped to 0
// over 2s with gracefulRampDown 0s, each iteration two 1s requests: "0
// complete and 3 interrupted iterations", 2 http_reqs (the requests in
// flight when a VU is ramped down emit nothing), the run over at 2s, and
// no error logged for the interruptions. The second request here takes 5s,
// not 1s, so that the last VU's is still in flight when it is ramped down
// however late a busy machine runs it; the outcome is k6's.
func TestRampDownInterruptsQuietly(t *testing.T) {
	t.Parallel()
	srv := testServer(t)
	o := script(`
import http from 'k6/http';
export const options = { scenarios: { ramp: { executor: 'ramping-vus', startVUs: 3, gracefulRampDown: '0s',
  stages: [{ duration: '2s', target: 0 }] } } };
export default function () { http.get(__ENV.BASE + '/slow?ms=1000'); http.get(__ENV.BASE + '/slow?ms=5000'); }
`).env("BASE", srv.URL).exec(t)
	require.NoError(t, o.err, o.logs.String())
	require.Len(t, o.res.Scenarios, 1)
	p := o.res.Scenarios[0]
	assert.Zero(t, p.Completed)
	assert.EqualValues(t, 3, p.Interrupted)
	assert.Equal(t, 2.0, metricValue(t, o.res, "http_reqs", "count"))
	assert.Empty(t, o.logs.lines("level=ERROR"), "k6 logs nothing for an interruption")
	assert.NotContains(t, o.logs.String(), "GoError")
}
