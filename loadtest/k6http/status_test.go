package k6http_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// A client keeps the status texts it has seen (the last, then a map): each
// response still gets its own.
func TestStatusTextsOfOneClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, nil)
	c := newClient(t, nil, k6http.Options{})
	for _, code := range []int{200, 404, 404, 200, 418, 500, 404} {
		r, err := c.Do(bg, &k6http.Request{URL: srv.URL + "/status/" + strconv.Itoa(code)})
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(code)+" "+http.StatusText(code), r.StatusText)
	}
}
