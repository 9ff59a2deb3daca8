package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// ErrCoordinatorLost is the cause with which a runner stops when its
// coordinator goes silent.
var ErrCoordinatorLost = errors.New("coordinator lost")

// BuildFunc builds a runner's plan from the run's archive: the same plan
// the coordinator runs, with the runner's own outputs (per-runner NDJSON
// or CSV files). The runner sets the plan's execution segment and gate.
type BuildFunc func(ctx context.Context, archive []byte, a Assignment) (loadtest.Plan, []loadtest.Output, error)

// Runner is one runner of a distributed run. Set the fields and call Run.
type Runner struct {
	// Conn is the connection to the run's NATS; required.
	Conn *nats.Conn
	// RunID is the run to join; required.
	RunID string
	// Index is the slot to take (a Kubernetes completion index); -1 takes
	// any free one.
	Index int
	// Build builds the plan from the archive; required.
	Build BuildFunc
	// JoinTimeout bounds the wait for the coordinator to answer; default
	// DefaultJoinTimeout.
	JoinTimeout time.Duration
	// Logger receives the runner's events; nil discards them.
	Logger *slog.Logger
}

// Run joins the run, runs this runner's share and reports it. It returns
// the runner's own Result (its share only: the run's is the
// coordinator's) and an error when it could not take part or lost its
// coordinator. It returns once every goroutine it started has ended.
func (r *Runner) Run(ctx context.Context) (loadtest.Result, error) {
	if err := errors.Join(validRunID(r.RunID), nilErr(r.Conn == nil, "conn"), nilErr(r.Build == nil, "build")); err != nil {
		return loadtest.Result{}, fmt.Errorf("runner: %w", err)
	}
	n := names{r.RunID}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(r.Conn)
	if err != nil {
		return loadtest.Result{}, err
	}

	// The coordinator's heartbeat, watched from before the join.
	var lastCoordinator atomic.Int64
	lastCoordinator.Store(time.Now().UnixNano())
	hb, err := r.Conn.Subscribe(n.coordinatorHeartbeat(), func(*nats.Msg) { lastCoordinator.Store(time.Now().UnixNano()) })
	if err != nil {
		return loadtest.Result{}, err
	}
	defer func() { _ = hb.Unsubscribe() }()

	a, err := r.join(ctx, n)
	if err != nil {
		return loadtest.Result{}, err
	}
	log = log.With("run", r.RunID, "runner", a.Index)
	infra := context.WithoutCancel(ctx)

	// runCtx ends the run: a stop order, a lost coordinator, or ctx.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	bg, stopBG := context.WithCancel(infra)
	defer stopBG()

	wg.Go(func() { // heartbeats and the coordinator watch
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			_ = r.Conn.Publish(n.heartbeat(a.Index), nil)
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
			if time.Since(time.Unix(0, lastCoordinator.Load())) > HeartbeatTimeout {
				log.Warn("coordinator lost: stopping")
				stopRun(ErrCoordinatorLost)
				return
			}
		}
	})

	kv, err := js.KeyValue(ctx, n.bucket())
	if err != nil {
		return loadtest.Result{}, fmt.Errorf("run bucket: %w", err)
	}
	starts := make(chan startOrder, 1)
	watcher, err := kv.WatchAll(bg)
	if err != nil {
		return loadtest.Result{}, fmt.Errorf("run bucket: %w", err)
	}
	wg.Go(func() {
		defer func() { _ = watcher.Stop() }()
		for {
			select {
			case <-bg.Done():
				return
			case e, ok := <-watcher.Updates():
				if !ok {
					return
				}
				if e == nil || e.Operation() != jetstream.KeyValuePut {
					continue
				}
				switch e.Key() {
				case keyStart:
					var s startOrder
					if json.Unmarshal(e.Value(), &s) == nil {
						select {
						case starts <- s:
						default:
						}
					}
				case keyStop:
					var s stopOrder
					_ = json.Unmarshal(e.Value(), &s)
					log.Info("stop order", "hard", s.Hard, "reason", s.Reason)
					cause := fmt.Errorf("stopped by the coordinator: %s", s.Reason)
					if s.Hard {
						cause = fmt.Errorf("%w: %w", scenarios.ErrHardStop, cause)
					}
					stopRun(cause)
				}
			}
		}
	})

	obs, err := js.ObjectStore(ctx, n.files())
	if err != nil {
		return loadtest.Result{}, fmt.Errorf("archive store: %w", err)
	}
	archive, err := obs.GetBytes(ctx, archiveObject)
	if err != nil {
		return loadtest.Result{}, fmt.Errorf("archive: %w", err)
	}
	plan, outputs, err := r.Build(ctx, archive, a)
	if err != nil {
		r.report(infra, js, n, a.Index, doneReport{Index: a.Index, Error: fmt.Sprintf("building the plan: %v", err)})
		return loadtest.Result{}, err
	}
	plan.Options.ExecutionSegment, plan.Options.ExecutionSegmentSequence = a.Segment, a.Sequence
	plan.Gate = &gate{r: r, n: n, index: a.Index, starts: starts}
	pub := newPublisher(js, n, a.Index, a.Samples, log)
	wg.Go(func() { pub.run(infra) })
	res, err := loadtest.Run(runCtx, plan, append(outputs, pub)...)
	if dropped := pub.close(); dropped > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d samples were not forwarded to the coordinator's outputs: NATS did not take them in time", dropped))
	}
	if errors.Is(context.Cause(runCtx), ErrCoordinatorLost) {
		return res, ErrCoordinatorLost
	}
	d := doneReport{Index: a.Index, Status: res.Status, Abort: res.Abort, FailedBy: res.FailedBy, Warnings: res.Warnings}
	if err != nil {
		d.Error = err.Error()
	}
	r.report(infra, js, n, a.Index, d)
	return res, err
}

func nilErr(missing bool, field string) error {
	if missing {
		return fmt.Errorf("%s: required", field)
	}
	return nil
}

// join asks the coordinator for a slot, until it answers or JoinTimeout:
// runners may start before their coordinator, or before NATS is up.
func (r *Runner) join(ctx context.Context, n names) (Assignment, error) {
	host, _ := os.Hostname()
	req, _ := json.Marshal(joinRequest{Index: r.Index, Host: host})
	ctx, cancel := context.WithTimeout(ctx, orDefault(r.JoinTimeout, DefaultJoinTimeout))
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := r.Conn.RequestWithContext(actx, n.join(), req)
		acancel()
		if err == nil {
			var a Assignment
			if err := json.Unmarshal(msg.Data, &a); err != nil {
				return a, fmt.Errorf("join: %w", err)
			}
			if a.Error != "" {
				return a, fmt.Errorf("join: %s", a.Error)
			}
			return a, nil
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return Assignment{}, fmt.Errorf("join: no coordinator for run %s (%v): %w", r.RunID, err, ctx.Err())
		case <-t.C:
		}
	}
}

// report publishes the runner's last word.
func (r *Runner) report(ctx context.Context, js jetstream.JetStream, n names, index int, d doneReport) {
	b, _ := json.Marshal(d)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = js.Publish(ctx, n.result(index, kindDone), b)
}

// gate is the runner's loadtest.Gate: clock offset, ready barrier, start.
type gate struct {
	r      *Runner
	n      names
	index  int
	starts <-chan startOrder
}

func (g *gate) Open(ctx context.Context) (time.Time, json.RawMessage, error) {
	offset, rtt, err := g.measureClock(ctx)
	if err != nil {
		return time.Time{}, nil, err
	}
	req, _ := json.Marshal(readyRequest{Index: g.index, Offset: offset, RTT: rtt})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = g.r.Conn.RequestWithContext(rctx, g.n.ready(), req)
	cancel()
	if err != nil {
		return time.Time{}, nil, fmt.Errorf("ready: %w", err)
	}
	var order startOrder
	select {
	case order = <-g.starts:
	case <-ctx.Done():
		return time.Time{}, nil, fmt.Errorf("waiting for the start: %w", context.Cause(ctx))
	}
	// Coordinator time t is t - offset here.
	at := order.At.Add(-offset)
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, nil, context.Cause(ctx)
		}
	}
	return order.Zero.Add(-offset), order.SetupData, nil
}

// measureClock returns the coordinator's clock minus this one, from the
// round trip with the smallest RTT (NTP's rule: its midpoint is the
// closest to the coordinator's reading).
func (g *gate) measureClock(ctx context.Context) (offset, rtt time.Duration, err error) {
	rtt = -1
	for range clockSamples {
		sent := time.Now()
		msg, err := g.r.Conn.RequestWithContext(ctx, g.n.clock(), nil)
		if err != nil {
			return 0, 0, fmt.Errorf("clock: %w", err)
		}
		got := time.Now()
		var reply clockReply
		if err := json.Unmarshal(msg.Data, &reply); err != nil {
			return 0, 0, fmt.Errorf("clock: %w", err)
		}
		if d := got.Sub(sent); rtt < 0 || d < rtt {
			rtt = d
			offset = reply.Now.Sub(sent.Add(d / 2))
		}
	}
	return offset, rtt, nil
}

// publisher is the runner's output that ships partials and, when the
// coordinator writes outputs, samples, in order, from a goroutine of its
// own: the engine never waits for the network.
type publisher struct {
	js    jetstream.JetStream
	n     names
	index int
	log   *slog.Logger
	queue chan message
	once  sync.Once
	done  chan struct{}
	enc   *zstd.Encoder
	// samples is nil when the coordinator wants no samples. The engine's
	// dispatcher adds to it, and its ticker ships it with each partial.
	mu      sync.Mutex
	samples *sampleEncoder
	dropped int64 // samples not forwarded: the queue was full, or NATS did not take them
}

// message is one result message: a partial or a batch of samples.
type message struct {
	partial *loadtest.Partial
	samples []byte
	count   int // of samples
}

var (
	_ loadtest.Output          = (*publisher)(nil)
	_ loadtest.PartialReceiver = (*publisher)(nil)
)

// samplesBatchBytes is the size at which a batch of samples is shipped
// before the next partial: well under NATS's default 1 MB message.
const samplesBatchBytes = 256 << 10

func newPublisher(js jetstream.JetStream, n names, index int, samples bool, log *slog.Logger) *publisher {
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	p := &publisher{js: js, n: n, index: index, log: log, queue: make(chan message, 64),
		done: make(chan struct{}), enc: enc}
	if samples {
		p.samples = newSampleEncoder()
	}
	return p
}

func (p *publisher) Start(loadtest.RunInfo) error { return nil }
func (p *publisher) Stop(loadtest.Result) error   { return nil }

// AddSamples implements loadtest.Output: it encodes the samples the
// coordinator writes, all but vus and vus_max (the coordinator writes
// their sums).
func (p *publisher) AddSamples(batch []metrics.Sample) {
	if p.samples == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range batch {
		if name := batch[i].Metric.Name; name != metrics.VUs && name != metrics.VUsMax {
			p.samples.add(&batch[i])
		}
	}
	if p.samples.size() >= samplesBatchBytes {
		p.flushSamples()
	}
}

// flushSamples queues the samples encoded so far; call it with p.mu held.
func (p *publisher) flushSamples() {
	if p.samples == nil || p.samples.n == 0 {
		return
	}
	n := p.samples.n
	if p.enqueue(message{samples: p.samples.encode(), count: n}) {
		p.samples.reset()
		return
	}
	p.dropped += int64(n)
	p.samples.reset()
}

// Partial implements loadtest.PartialReceiver. The samples encoded so far
// go first. A full queue means NATS has not taken a message for a long
// time: the coordinator has lost this runner by then, and the engine must
// not wait.
func (p *publisher) Partial(part *loadtest.Partial) {
	p.mu.Lock()
	p.flushSamples()
	p.mu.Unlock()
	p.enqueue(message{partial: part})
}

func (p *publisher) enqueue(m message) bool {
	select {
	case p.queue <- m:
		return true
	default:
		p.log.Error("result dropped: NATS is not taking them", "partial", m.partial != nil)
		return false
	}
}

// close flushes the queue; call it once the run is over. It returns how
// many samples were not forwarded.
func (p *publisher) close() int64 {
	p.once.Do(func() {
		p.mu.Lock()
		p.flushSamples()
		p.mu.Unlock()
		close(p.queue)
	})
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

func (p *publisher) run(ctx context.Context) {
	defer close(p.done)
	defer p.enc.Close()
	var sent int
	attempts := publishAttempts
	for m := range p.queue {
		sent++
		kind, b := kindSamples, m.samples
		if m.partial != nil {
			var err error
			kind = kindPartial
			if b, err = m.partial.MarshalBinary(); err != nil {
				p.log.Error("partial", "err", err)
				continue
			}
		}
		msg := nats.NewMsg(p.n.result(p.index, kind))
		if len(b) > compressAbove {
			msg.Data = p.enc.EncodeAll(b, nil)
			msg.Header.Set(headerEncoding, "zstd")
		} else {
			msg.Data = b
		}
		// A publish whose acknowledgement is late (a busy machine) is
		// tried again; the message ID, unique in the run's stream, lets
		// JetStream drop a second copy. Once a message is lost, NATS is
		// not taking them, and the next get one attempt each until one gets
		// through, so that a run's end waits hardly longer than without
		// retries.
		msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%d.%d", p.index, sent))
		var err error
		for range attempts {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = p.js.PublishMsg(pctx, msg)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		attempts = publishAttempts
		if err != nil {
			attempts = 1
			p.log.Warn(kind+" not delivered", "err", err)
			p.mu.Lock()
			p.dropped += int64(m.count)
			p.mu.Unlock()
		}
	}
}

// publishAttempts bounds how often a result message is published before
// it counts as lost.
const publishAttempts = 3

// compressAbove is the size above which partials travel compressed.
const compressAbove = 4 << 10

func newDecoder() *zstd.Decoder {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(64<<20)) // fails only for bad options
	return d
}

// decompress returns a result message's payload as it was encoded.
func decompress(decoder *zstd.Decoder, data []byte, encoding string) ([]byte, error) {
	if encoding == "zstd" {
		return decoder.DecodeAll(data, nil)
	}
	return data, nil
}

func decodePartial(decoder *zstd.Decoder, data []byte, encoding string) (*loadtest.Partial, error) {
	data, err := decompress(decoder, data, encoding)
	if err != nil {
		return nil, fmt.Errorf("partial: %w", err)
	}
	var p loadtest.Partial
	if err := p.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return &p, nil
}
