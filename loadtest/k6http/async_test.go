package k6http_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/inflight"
	"github.com/loadlens/loadlens/loadtest/k6http"
)

func TestStart(t *testing.T) {
	t.Parallel()
	g := inflight.New(4)
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	rec := &recorder{}
	c := newClient(t, rec, k6http.Options{})
	done := make(chan struct{}, 4)
	var ps []*k6http.Pending
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		pd, err := c.Start(t.Context(), &k6http.Request{URL: srv.URL + p}, func() { done <- struct{}{} })
		require.NoError(t, err)
		ps = append(ps, pd)
	}
	for range ps {
		<-done
	}
	assert.Equal(t, 4, g.Max(), "each started request is in flight at once")
	assert.Empty(t, rec.batches, "no samples until Finish")
	for i := len(ps) - 1; i >= 0; i-- { // in another order than started
		r, err := ps[i].Finish()
		require.NoError(t, err)
		assert.Equal(t, "/"+string(rune('a'+i)), string(r.Body))
		require.NotEmpty(t, rec.batches)
		assert.Equal(t, srv.URL+"/"+string(rune('a'+i)), tagMap(rec.last())["url"], "Finish emits the request's samples")
	}
	assert.Len(t, rec.batches, 4)
	r, err := ps[0].Finish()
	require.NoError(t, err)
	assert.Equal(t, "/a", string(r.Body), "Finish again returns the same")
	assert.Len(t, rec.batches, 4, "and emits nothing")
	sent, received := c.TakeIO()
	assert.Positive(t, sent, "the requests' bytes count in data_sent")
	assert.Positive(t, received, "and in data_received")

	p, err := c.Start(t.Context(), &k6http.Request{URL: refusedURL(t)}, nil)
	require.NoError(t, err)
	<-p.Done()
	r, err = p.Finish()
	require.NoError(t, err, "a network error is the response's")
	assert.Equal(t, 0, r.Status)
	assert.NotEmpty(t, r.Error)
}

func TestStartInterrupted(t *testing.T) {
	t.Parallel()
	g := inflight.New(2)
	g.Hold = true // every request waits for its context
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	rec := &recorder{}
	c := newClient(t, rec, k6http.Options{})
	a, err := c.Start(ctx, &k6http.Request{URL: srv.URL + "/a"}, nil)
	require.NoError(t, err)
	b, err := c.Start(ctx, &k6http.Request{URL: srv.URL + "/b"}, nil)
	require.NoError(t, err)
	<-g.Full()
	stop := errors.New("hard stop")
	cancel(stop)
	for _, p := range []*k6http.Pending{a, b} {
		r, err := p.Finish()
		require.ErrorIs(t, err, stop, "the context's end interrupts the request")
		assert.Nil(t, r)
	}
	assert.Empty(t, rec.batches, "an interrupted request has no samples, as with Do")
	_, err = c.Start(ctx, &k6http.Request{URL: srv.URL + "/c"}, nil)
	require.ErrorIs(t, err, stop, "Start after the context's end")
	require.NoError(t, c.Close())
	_, err = c.Start(t.Context(), &k6http.Request{URL: srv.URL + "/c"}, nil)
	require.ErrorIs(t, err, k6http.ErrClosed)
}
