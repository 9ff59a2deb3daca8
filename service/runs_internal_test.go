package service

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// A subscriber that does not read is dropped once its buffer is full; the
// engine's Progress never blocks, and a reader gets every event and "done".
func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	r := &liveRun{id: "run-1", state: store.Running}
	slow, _, ok := r.subscribe()
	require.True(t, ok, "subscribe to a live run")
	fast, _, _ := r.subscribe()
	got := 0
	for i := range subscriberBuffer + 5 {
		r.Progress(loadtest.Snapshot{Requests: int64(i)}) // must not block
		for len(fast) > 0 {
			<-fast
			got++
		}
	}
	assert.Equal(t, subscriberBuffer+5, got, "the reading subscriber gets every event")
	n := 0
	for range slow { // closed when dropped
		n++
	}
	assert.Equal(t, subscriberBuffer, n, "the slow one gets its buffer, then is dropped")

	r.finish(RunStatus{ID: "run-1", State: store.Completed})
	var last []byte
	for f := range fast {
		last = f
	}
	assert.Contains(t, string(last), "event: done")
	_, _, ok = r.subscribe()
	assert.False(t, ok, "no subscription to an ended run")
	assert.NotNil(t, r.finalFrame())
	r.unsubscribe(slow) // already dropped: no double close
}

// The dial check a run gets: allowed ranges, plus the addresses of allowed
// names the spec shows; everything else is refused at connect time.
func TestDialAllowlist(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "api.internal" {
			return []netip.Addr{netip.MustParseAddr("10.9.8.7")}, nil
		}
		return nil, fmt.Errorf("no such host %q", host)
	}}}
	a := parseAllowlist([]string{"127.0.0.0/8", "api.internal"})
	check := s.dialAllowlist(t.Context(), a, []fieldURL{{field: "target.base_url", raw: "http://api.internal:8080"},
		{field: "x", raw: "http://8.8.8.8"}}).allow()
	assert.True(t, check(netip.MustParseAddr("127.0.0.1")))
	assert.True(t, check(netip.MustParseAddr("10.9.8.7")), "an allowed name's address")
	assert.False(t, check(netip.MustParseAddr("8.8.8.8")), "seen in the spec but not allowed")
	assert.False(t, check(netip.MustParseAddr("10.9.8.8")))
	star := s.dialAllowlist(t.Context(), parseAllowlist([]string{"*"}), nil).allow()
	assert.True(t, star(netip.MustParseAddr("8.8.8.8")), "* allows every host")
	assert.True(t, star(netip.MustParseAddr("127.0.0.1")))
	for _, internal := range []string{"169.254.169.254", "fe80::1", "0.0.0.0", "224.0.0.1", "::ffff:169.254.169.254"} {
		assert.False(t, star(netip.MustParseAddr(internal)), "* never reaches %s", internal)
	}
	metadata := s.dialAllowlist(t.Context(), parseAllowlist([]string{"*", "169.254.169.254/32"}), nil).allow()
	assert.True(t, metadata(netip.MustParseAddr("169.254.169.254")), "unless a prefix names it")
}

// A URL literal that a script completes at run time ("http://ann:" + token
// + "@host", "http://host:" + port) is not refused for its would-be host,
// which may be a user name; a name-allowed host in it still gets its
// addresses into the dial rule.
func TestPartialURLLiterals(t *testing.T) {
	spec := loadtest.TestSpec{Script: `import http from "k6/http"
export default function () {
  http.get("http://ann:" + __ENV.TOKEN + "@127.0.0.1/")
  http.get("http://api.internal:" + __ENV.PORT + "/x")
  http.get("http://8.8.8.8/")
}`}
	got := targetURLs(spec, loadtest.Plan{})
	assert.Equal(t, []fieldURL{{field: "script", raw: "http://ann", partial: true}, {field: "script", raw: "http://api.internal", partial: true},
		{field: "script", raw: "http://8.8.8.8/"}}, got)
	s := &Server{cfg: Config{LookupHost: func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "api.internal" {
			return []netip.Addr{netip.MustParseAddr("10.9.8.7")}, nil
		}
		return nil, fmt.Errorf("no such host %q", host)
	}}}
	a := parseAllowlist([]string{"api.internal"})
	err := s.checkLimits(t.Context(), store.Limits{AllowedHosts: a.raw, MaxVUs: 1, MaxDuration: time.Minute}, spec, loadtest.Plan{})
	var le *LimitError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, []string{`script: host "8.8.8.8" is not in the tenant's allowed_hosts (api.internal)`}, le.Problems)
	assert.True(t, s.dialAllowlist(t.Context(), a, got).allow()(netip.MustParseAddr("10.9.8.7")))
}
