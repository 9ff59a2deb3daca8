package loadtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A header value with CR or LF would split the request on the wire; it is
// refused up front, every such header named, instead of failing every
// request with error 1000.
func TestTargetValidateRefusesHeadersHTTPCannotCarry(t *testing.T) {
	t.Parallel()
	target := Target{BaseURL: "http://127.0.0.1:1",
		CustomHeaders: map[string]string{"X-Ok": "fine", "X-Split": "a\r\nX-Injected: 1"},
		Endpoints:     []Endpoint{{Path: "/", Headers: map[string]string{"Bad Name": "v", "X-Nul": "a\x00b"}}}}
	err := target.Validate()
	require.Error(t, err)
	for _, want := range []string{"target.custom_headers.X-Split: the value has a control character",
		`target.endpoints[0].headers: "Bad Name" is not a valid header name`,
		"target.endpoints[0].headers.X-Nul: the value has a control character"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "X-Ok")
}

// Endpoint names become tags, check names, report rows and database rows:
// secrets in their URLs never do.
func TestEndpointNameHidesSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{Path: "/api?access_token=abc&page=2"}, "GET /api?access_token=[REDACTED]&page=2"},
		{Endpoint{Method: "post", Path: "http://u:pw@h/login"}, "POST http://u:%5BREDACTED%5D@h/login"},
		{Endpoint{Path: "/x", Name: "login?password=demo"}, "login?password=[REDACTED]"},
		{Endpoint{Path: "/api/products"}, "GET /api/products"},
	} {
		assert.Equal(t, tc.want, tc.e.name())
	}
	r := Target{AuthToken: "t0k", Endpoints: []Endpoint{{Path: "/login", Body: `{"user": "ann", "password": "demo"}`}}}.Redacted()
	assert.Equal(t, `{"password":"[REDACTED]","user":"ann"}`, r.Endpoints[0].Body)
	assert.Equal(t, Redacted, r.AuthToken)
}
