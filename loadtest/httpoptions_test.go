package loadtest

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// The plan's HTTP options reach every VU's client: userAgent,
// noConnectionReuse, discardResponseBodies and insecureSkipTLSVerify, end to
// end through Run, with data_sent and data_received counted.
func TestRunAppliesHTTPOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tls        bool
		opts       Options
		wantUA     string
		wantConns  int // distinct client connections for 6 requests
		wantBody   string
		wantStatus int
		wantCode   int
	}{
		{name: "defaults", wantUA: "loadlens/", wantConns: 1, wantBody: "hello", wantStatus: 200},
		{name: "user agent", opts: Options{UserAgent: new("team-probe/2")}, wantUA: "team-probe/2", wantConns: 1, wantBody: "hello", wantStatus: 200},
		// k6 v2.2.0 with --user-agent "" sent no User-Agent header
		{name: "no user agent", opts: Options{UserAgent: new("")}, wantUA: "<none>", wantConns: 1, wantBody: "hello", wantStatus: 200},
		{name: "no connection reuse", opts: Options{NoConnectionReuse: true}, wantUA: "loadlens/", wantConns: 6, wantBody: "hello", wantStatus: 200},
		{name: "discard response bodies", opts: Options{DiscardResponseBodies: true}, wantUA: "loadlens/", wantConns: 1, wantStatus: 200},
		{name: "self-signed TLS refused", tls: true, wantStatus: 0, wantCode: 1310}, // x509: unknown authority,
		{name: "insecure skip TLS verify", tls: true, opts: Options{InsecureSkipTLSVerify: true}, wantUA: "loadlens/", wantConns: 1, wantBody: "hello", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				mu    sync.Mutex
				uas   = map[string]bool{}
				conns = map[string]bool{}
			)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				ua, ok := r.Header["User-Agent"]
				if !ok {
					ua = []string{"<none>"}
				}
				uas[ua[0]] = true
				conns[r.RemoteAddr] = true
				mu.Unlock()
				_, _ = w.Write([]byte("hello"))
			})
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
			if tt.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			var (
				bodies   []string
				statuses []int
				codes    []int
			)
			plan := Plan{
				Scenarios: shared(1, 6),
				Options:   tt.opts,
				Program: Funcs{"default": func(ctx context.Context, vu *VU) error {
					r, err := vu.HTTP().Do(ctx, &k6http.Request{URL: srv.URL + "/"})
					if err != nil {
						return err
					}
					bodies, statuses, codes = append(bodies, string(r.Body)), append(statuses, r.Status), append(codes, r.ErrorCode)
					return nil
				}},
			}
			res, err := Run(t.Context(), plan)
			require.NoError(t, err)
			require.Len(t, statuses, 6, "one VU: its iterations ran one after another")
			for i := range statuses {
				assert.Equal(t, tt.wantStatus, statuses[i])
				assert.Equal(t, tt.wantCode, codes[i])
				assert.Equal(t, tt.wantBody, bodies[i])
			}
			assert.Equal(t, 6.0, res.Metrics[metrics.HTTPReqs].Values["count"])
			assert.Positive(t, res.Metrics[metrics.DataSent].Values["count"])
			if tt.wantStatus == 0 {
				assert.Equal(t, 1.0, res.Metrics[metrics.HTTPReqFailed].Values["rate"])
				assert.Empty(t, uas, "no request reached the handler")
				return
			}
			assert.Greater(t, res.Metrics[metrics.DataReceived].Values["count"], 6*float64(len("hello")))
			require.Len(t, uas, 1)
			for ua := range uas {
				assert.Contains(t, ua, tt.wantUA)
			}
			assert.Len(t, conns, tt.wantConns)
		})
	}
}
