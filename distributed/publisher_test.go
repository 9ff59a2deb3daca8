package distributed

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"

	"github.com/loadlens/loadlens/metrics"
)

// lateAcks is a JetStream whose first fails publishes time out, as on a
// busy machine; it records the message IDs it was given.
type lateAcks struct {
	jetstream.JetStream
	fails int
	mu    sync.Mutex
	ids   []string
}

func (j *lateAcks) PublishMsg(_ context.Context, m *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ids = append(j.ids, m.Header.Get(jetstream.MsgIDHeader))
	if len(j.ids) <= j.fails {
		return nil, nats.ErrTimeout
	}
	return &jetstream.PubAck{}, nil
}

// A batch of samples whose publish times out is tried again under the same
// message ID (JetStream keeps one copy); one that never gets through is
// counted, so that the run's warnings say samples were lost, and the next
// gets one attempt (NATS is not taking them: the run's end must not wait
// three times as long). Before, the
// samples were lost with a log line only: the coordinator's merged NDJSON
// missed a runner's share on a busy machine while the summary was whole.
func TestPublisherRetriesLateAcks(t *testing.T) {
	reg := metrics.NewRegistry()
	reqs := reg.MustRegister("http_reqs", metrics.Counter, metrics.Default)
	for _, c := range []struct {
		fails, wantDropped int
		wantIDs            []string
	}{
		{fails: publishAttempts - 1, wantDropped: 0, wantIDs: []string{"4.1", "4.1", "4.1", "4.2"}},
		{fails: publishAttempts + 1, wantDropped: 3, wantIDs: []string{"4.1", "4.1", "4.1", "4.2"}},
	} {
		js := &lateAcks{fails: c.fails}
		p := newPublisher(js, names{}, 4, true, slog.New(slog.DiscardHandler))
		done := make(chan struct{})
		go func() { defer close(done); p.run(t.Context()) }()
		p.AddSamples([]metrics.Sample{{Metric: reqs, Time: time.Unix(1, 0), Value: 1}, {Metric: reqs, Time: time.Unix(2, 0), Value: 1}})
		p.mu.Lock()
		p.flushSamples() // ships the batch, as the engine's next partial would
		p.mu.Unlock()
		p.AddSamples([]metrics.Sample{{Metric: reqs, Time: time.Unix(3, 0), Value: 1}})
		assert.EqualValues(t, c.wantDropped, p.close(), "samples not forwarded after %d late acks", c.fails)
		<-done
		assert.Equal(t, c.wantIDs, js.ids, "the message IDs of every attempt")
	}
}
