package service

import (
	"testing"

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

	r.finish(Status{ID: "run-1", State: store.Completed})
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
