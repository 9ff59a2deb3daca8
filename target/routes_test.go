package target_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/target"
)

func TestRoutes(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{})
	bearer := []string{"Authorization", "Bearer " + target.DemoToken}
	for _, tc := range []struct {
		name, method, path, body string
		header                   []string
		code                     int
		want                     string // substring of the body; exact when exact
		exact                    bool
	}{
		{name: "root", method: "GET", path: "/", code: 200, want: "ok", exact: true},
		{name: "root wrong method", method: "POST", path: "/", code: 404},
		{name: "healthz", method: "GET", path: "/healthz", code: 200, want: "ok", exact: true},
		{name: "unknown path", method: "GET", path: "/nope", code: 404, want: "no such route"},
		{name: "products", method: "GET", path: "/api/products", code: 200, want: `{"id":100,"name":"Product 100"`},
		{name: "product", method: "GET", path: "/api/products/7", code: 200, want: `"id":7,"name":"Product 007"`},
		{name: "product zero", method: "GET", path: "/api/products/0", code: 404},
		{name: "product past end", method: "GET", path: "/api/products/101", code: 404},
		{name: "product not a number", method: "GET", path: "/api/products/x", code: 400},
		{name: "login", method: "POST", path: "/api/login", body: `{"username":"ann","password":"demo"}`, code: 200, want: `{"token":"demo-token"}`, exact: true},
		{name: "login bearer", method: "POST", path: "/api/login", header: bearer, code: 200, want: `{"token":"demo-token"}`, exact: true},
		{name: "login wrong password", method: "POST", path: "/api/login", body: `{"username":"ann","password":"x"}`, code: 401},
		{name: "login no username", method: "POST", path: "/api/login", body: `{"password":"demo"}`, code: 401},
		{name: "login bad JSON", method: "POST", path: "/api/login", body: `{`, code: 400},
		{name: "login wrong token", method: "POST", path: "/api/login", header: []string{"Authorization", "Bearer nope"}, code: 400},
		{name: "login GET", method: "GET", path: "/api/login", code: 404},
		{name: "checkout", method: "POST", path: "/api/checkout", header: bearer, body: `{"items":[{"id":1,"qty":2},{"id":2,"qty":1}]}`, code: 201, want: `"total":`},
		{name: "checkout no token", method: "POST", path: "/api/checkout", body: `{"items":[{"id":1,"qty":1}]}`, code: 401},
		{name: "checkout no items", method: "POST", path: "/api/checkout", header: bearer, body: `{"items":[]}`, code: 400, want: "items: must not be empty"},
		{name: "checkout unknown product", method: "POST", path: "/api/checkout", header: bearer, body: `{"items":[{"id":999,"qty":1}]}`, code: 400, want: "items[0].id"},
		{name: "checkout bad qty", method: "POST", path: "/api/checkout", header: bearer, body: `{"items":[{"id":3,"qty":0}]}`, code: 400, want: "items[0].qty"},
		{name: "checkout bad JSON", method: "POST", path: "/api/checkout", header: bearer, body: `[]`, code: 400},
		{name: "status 200", method: "GET", path: "/status/200", code: 200, want: "OK", exact: true},
		{name: "status 418", method: "GET", path: "/status/418", code: 418, want: "I'm a teapot", exact: true},
		{name: "status 503 POST", method: "POST", path: "/status/503", code: 503, want: "Service Unavailable", exact: true},
		{name: "status 204", method: "GET", path: "/status/204", code: 204, want: "", exact: true},
		{name: "status 199", method: "GET", path: "/status/199", code: 400},
		{name: "status 600", method: "GET", path: "/status/600", code: 400},
		{name: "status word", method: "GET", path: "/status/teapot", code: 400},
		{name: "delay", method: "GET", path: "/delay/3", code: 200, want: "ok", exact: true},
		{name: "delay zero", method: "GET", path: "/delay/0", code: 200},
		{name: "delay too long", method: "GET", path: "/delay/30001", code: 400},
		{name: "delay negative", method: "GET", path: "/delay/-1", code: 400},
		{name: "bytes", method: "GET", path: "/bytes/70000", code: 200},
		{name: "bytes zero", method: "GET", path: "/bytes/0", code: 200, want: "", exact: true},
		{name: "bytes too many", method: "GET", path: "/bytes/16777217", code: 400},
		{name: "bytes negative", method: "GET", path: "/bytes/-5", code: 400},
		{name: "metrics", method: "GET", path: "/metrics", code: 200, want: "# TYPE go_goroutines gauge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, c, tc.method, srv.URL()+tc.path, tc.body, tc.header...)
			assert.Equal(t, tc.code, code, body)
			if tc.exact {
				assert.Equal(t, tc.want, body)
			} else {
				assert.Contains(t, body, tc.want)
			}
		})
	}
}

func TestRoutePayloads(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{})

	code, body := do(t, c, "GET", srv.URL()+"/api/products", "")
	require.Equal(t, 200, code)
	list := decode[[]struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Price int64  `json:"price"`
	}](t, body)
	require.Len(t, list, target.Products)

	code, body = do(t, c, "GET", srv.URL()+"/bytes/70000", "")
	require.Equal(t, 200, code)
	assert.Len(t, body, 70000)
	assert.True(t, strings.HasPrefix(body, "abcdefghijklmnopqrstuvwxyzabc"))

	// The order total is the sum of price × quantity; order ids increase.
	code, body = do(t, c, "POST", srv.URL()+"/api/checkout", `{"items":[{"id":1,"qty":2},{"id":2,"qty":1}]}`, "Authorization", "Bearer "+target.DemoToken)
	require.Equal(t, 201, code)
	order := decode[struct {
		Order string `json:"order"`
		Total int64  `json:"total"`
	}](t, body)
	assert.Equal(t, 2*list[0].Price+list[1].Price, order.Total)
	assert.Equal(t, "ord-000001", order.Order)
}

func TestStatsCountRequests(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{})
	for _, p := range []string{"/", "/api/products", "/status/500", "/nope", "/healthz", "/metrics"} {
		do(t, c, http.MethodGet, srv.URL()+p, "")
	}
	st := srv.Stats()
	assert.Equal(t, uint64(4), st.Requests, "/healthz and /metrics are not counted")
	assert.Zero(t, st.Errors, "/status/500 is not an injected error")
	assert.Zero(t, st.InFlight)
	assert.False(t, st.FaultActive)
}

// Routes is what the target serves: every route answers, none with the
// catch-all's 404 but the catch-all.
func TestRoutesListsWhatIsServed(t *testing.T) {
	t.Parallel()
	srv, c := start(t, target.Config{})
	routes := target.Routes()
	require.NotEmpty(t, routes)
	for _, r := range routes {
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			method, path = http.MethodGet, r.Pattern
		}
		path = strings.NewReplacer("{$}", "", "{id}", "1", "{code}", "204", "{ms}", "1", "{n}", "3").Replace(path)
		if path == "/" && r.Pattern == "/" {
			path = "/no/such/route"
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL()+path, nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err, r.Pattern)
		_ = resp.Body.Close()
		if r.Pattern == "/" {
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			continue
		}
		assert.NotEqual(t, http.StatusNotFound, resp.StatusCode, r.Pattern)
		assert.NotEmpty(t, r.Answer, r.Pattern)
	}
}
