package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
)

// LossPolicy is what a coordinator does when a runner is lost.
type LossPolicy string

// Loss policies (--on-runner-loss).
const (
	// LossAbort aborts the whole run (the default): its numbers would
	// not be the plan's.
	LossAbort LossPolicy = "abort"
	// LossContinue goes on with the other runners; the lost runner's
	// measurements up to its last partial stay in the Result, and a
	// warning says so.
	LossContinue LossPolicy = "continue"
)

// ParseLossPolicy reads --on-runner-loss.
func ParseLossPolicy(s string) (LossPolicy, error) {
	switch p := LossPolicy(s); p {
	case LossAbort, LossContinue:
		return p, nil
	case "":
		return LossAbort, nil
	}
	return "", fmt.Errorf("on-runner-loss: want abort or continue, got %q", s)
}

// Launcher starts a run's runners (local processes; nothing for runners
// started elsewhere, such as a Kubernetes Job).
type Launcher interface {
	// Launch starts n runners that join run runID at natsURL, and returns
	// once they are started. It calls exited, from any goroutine, when a
	// runner ends. wait, called once the run is over, returns when every
	// runner has ended, ending those still there after a short grace.
	Launch(ctx context.Context, natsURL, runID string, n int, exited func(index int, err error)) (wait func(), err error)
}

// Coordinator runs a plan's scenarios on runners: it is the plan's
// [loadtest.Remote]. Set the fields, then give it to loadtest.Run in
// Plan.Remote; one Coordinator runs one run.
type Coordinator struct {
	// Conn is the connection to NATS (with JetStream); required.
	Conn *nats.Conn
	// URL is the NATS URL runners connect to, given to the Launcher.
	URL string
	// RunID names the run's subjects; default a random one.
	RunID string
	// Runners is how many runners take part; required.
	Runners int
	// Sequence splits the work; default equal segments. Its length must
	// be Runners.
	Sequence scenarios.ExecutionSegmentSequence
	// Archive is the test, as the runners' build function reads it.
	Archive []byte
	// JoinTimeout bounds the wait for every runner to join, ReadyTimeout
	// the wait for them to initialise; defaults DefaultJoinTimeout and
	// DefaultReadyTimeout.
	JoinTimeout, ReadyTimeout time.Duration
	// StopGrace is how long runners are given to stop after a graceful
	// stop, before the missing ones count as lost: the plan's longest
	// gracefulStop; default 30 s.
	StopGrace time.Duration
	// OnRunnerLoss says what a lost runner does to the run; default abort.
	OnRunnerLoss LossPolicy
	// ForwardSamples has every runner forward every sample it measures,
	// for the run's outputs (NDJSON, CSV) to write them all, as one
	// process's outputs would; set it when the run has such outputs.
	ForwardSamples bool
	// Launcher starts the runners; nil waits for runners started elsewhere.
	Launcher Launcher
	// Logger receives the run's events (joins, clock offsets, losses); nil
	// discards them.
	Logger *slog.Logger

	statsMu sync.Mutex
	stats   []RunnerStats
}

// RunnerStats is what the coordinator knows of one runner after a run.
type RunnerStats struct {
	Index int    `json:"index"`
	Host  string `json:"host,omitempty"`
	// ClockOffset is the coordinator's clock minus the runner's, measured
	// over NATS round trips (the one with the smallest RTT); RTT is that
	// round trip.
	ClockOffset time.Duration `json:"clock_offset_ns"`
	RTT         time.Duration `json:"rtt_ns"`
	// Partials and Bytes count what the runner sent.
	Partials int64  `json:"partials"`
	Bytes    int64  `json:"bytes"`
	Lost     string `json:"lost,omitempty"`
}

var _ loadtest.Remote = (*Coordinator)(nil)

// Stats returns what the coordinator knows of each runner; complete once
// Execute returned.
func (c *Coordinator) Stats() []RunnerStats {
	c.statsMu.Lock()
	defer c.statsMu.Unlock()
	return append([]RunnerStats(nil), c.stats...)
}

// event is something that happened to the run, handled by Execute's loop,
// which alone owns the run's state.
type event struct {
	kind   string // join, ready, partial, samples, done, exited, heartbeat
	index  int
	msg    *nats.Msg
	join   joinRequest
	ready  readyRequest
	err    error
	reply  chan Assignment
	report doneReport
	size   int
	seq    uint64 // the results stream's sequence of msg
}

type runnerState struct {
	joined, ready, done bool
	lost                string
	lastSeen            time.Time
	// exited is when the runner's process ended, exitWhy how; it is lost
	// unless its last word, which travels through the stream, follows
	// within exitGrace.
	exited  time.Time
	exitWhy string
	stats   RunnerStats
}

// exitGrace is how long after a runner's exit its last word may still
// arrive through the results stream.
const exitGrace = time.Second

func (c *Coordinator) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c *Coordinator) validate() error {
	var errs []error
	if c.Conn == nil {
		errs = append(errs, errors.New("coordinator: conn: required"))
	}
	if c.Runners < 1 {
		errs = append(errs, fmt.Errorf("coordinator: runners: must be >= 1, got %d", c.Runners))
	}
	if c.Sequence != nil && len(c.Sequence) != c.Runners {
		errs = append(errs, fmt.Errorf("coordinator: sequence: %d segments for %d runners", len(c.Sequence), c.Runners))
	}
	if c.RunID != "" {
		if err := validRunID(c.RunID); err != nil {
			errs = append(errs, fmt.Errorf("coordinator: %w", err))
		}
	}
	if _, err := ParseLossPolicy(string(c.OnRunnerLoss)); err != nil {
		errs = append(errs, fmt.Errorf("coordinator: %w", err))
	}
	return errors.Join(errs...)
}

// Execute implements loadtest.Remote.
func (c *Coordinator) Execute(ctx context.Context, rr *loadtest.RemoteRun, setupData json.RawMessage) error {
	if err := c.validate(); err != nil {
		return err
	}
	if c.RunID == "" {
		c.RunID = NewRunID()
	}
	if c.Sequence == nil {
		c.Sequence = scenarios.EqualSegments(c.Runners)
	}
	n := names{c.RunID}
	log := c.logger().With("run", c.RunID)

	// Setting up and tearing down the run's JetStream assets must work
	// whatever state the run's context is in.
	infra := context.WithoutCancel(ctx)
	js, err := jetstream.New(c.Conn)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	assets, err := createAssets(infra, js, n, c.Archive)
	defer assets.delete(infra, js, n)
	if err != nil {
		return err
	}

	events := make(chan event, 1024)
	var handlers sync.WaitGroup
	quit := make(chan struct{})
	send := func(e event) {
		select {
		case events <- e:
		case <-quit:
		}
	}
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		close(quit)
		handlers.Wait()
	}()
	subscribe := func(subj string, h nats.MsgHandler) error {
		s, err := c.Conn.Subscribe(subj, h)
		if err == nil {
			subs = append(subs, s)
		}
		return err
	}
	// The clock is answered at once, off the loop: the round trip is the
	// measurement.
	if err := subscribe(n.clock(), func(m *nats.Msg) {
		b, _ := json.Marshal(clockReply{Now: time.Now()})
		_ = m.Respond(b)
	}); err != nil {
		return err
	}
	if err := subscribe(n.join(), func(m *nats.Msg) {
		var req joinRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return
		}
		reply := make(chan Assignment, 1)
		send(event{kind: "join", join: req, reply: reply})
		select {
		case a := <-reply:
			b, _ := json.Marshal(a)
			_ = m.Respond(b)
		case <-quit:
		}
	}); err != nil {
		return err
	}
	if err := subscribe(n.ready(), func(m *nats.Msg) {
		var req readyRequest
		if err := json.Unmarshal(m.Data, &req); err == nil {
			send(event{kind: "ready", index: req.Index, ready: req})
			_ = m.Respond([]byte("{}"))
		}
	}); err != nil {
		return err
	}
	if err := subscribe(n.heartbeats(), func(m *nats.Msg) {
		if i, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]); err == nil {
			send(event{kind: "heartbeat", index: i})
		}
	}); err != nil {
		return err
	}
	consumer, err := js.OrderedConsumer(infra, n.stream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("results consumer: %w", err)
	}
	consuming, err := consumer.Consume(func(m jetstream.Msg) {
		parts := strings.Split(m.Subject(), ".")
		if len(parts) < 2 {
			return
		}
		i, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil {
			return
		}
		var seq uint64
		if meta, err := m.Metadata(); err == nil {
			seq = meta.Sequence.Stream
		}
		switch kind := parts[len(parts)-1]; kind {
		case kindPartial, kindSamples:
			send(event{kind: kind, index: i, msg: &nats.Msg{Data: m.Data(), Header: m.Headers()}, size: len(m.Data()), seq: seq})
		case kindDone:
			var d doneReport
			if err := json.Unmarshal(m.Data(), &d); err == nil {
				send(event{kind: "done", index: i, report: d, seq: seq})
			}
		}
	})
	if err != nil {
		return fmt.Errorf("results consumer: %w", err)
	}
	defer consuming.Stop()

	// The coordinator's heartbeat: runners stop by themselves without it.
	hbCtx, stopHB := context.WithCancel(infra)
	handlers.Go(func() {
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			_ = c.Conn.Publish(n.coordinatorHeartbeat(), nil)
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
			}
		}
	})
	defer stopHB()

	if c.Launcher != nil {
		wait, err := c.Launcher.Launch(ctx, c.URL, c.RunID, c.Runners, func(i int, err error) {
			send(event{kind: "exited", index: i, err: err})
		})
		if err != nil {
			return fmt.Errorf("launching runners: %w", err)
		}
		defer wait()
	}
	loop := &runLoop{c: c, rr: rr, log: log, kv: assets.kv, results: assets.results, infra: infra, events: events,
		decoder: newDecoder(), runners: make([]runnerState, c.Runners)}
	defer loop.decoder.Close()
	err = loop.run(ctx, setupData)
	c.statsMu.Lock()
	for _, r := range loop.runners {
		c.stats = append(c.stats, r.stats)
	}
	c.statsMu.Unlock()
	return err
}

type assets struct {
	kv      jetstream.KeyValue
	results jetstream.Stream
}

func createAssets(ctx context.Context, js jetstream.JetStream, n names, archive []byte) (assets, error) {
	var a assets
	var err error
	if a.kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: n.bucket(), Storage: jetstream.MemoryStorage}); err != nil {
		return a, fmt.Errorf("run bucket: %w", err)
	}
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: n.files(), Storage: jetstream.MemoryStorage})
	if err != nil {
		return a, fmt.Errorf("archive store: %w", err)
	}
	if _, err := obs.PutBytes(ctx, archiveObject, archive); err != nil {
		return a, fmt.Errorf("archive: %w", err)
	}
	if a.results, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: n.stream(), Subjects: []string{n.results()},
		Storage: jetstream.MemoryStorage}); err != nil {
		return a, fmt.Errorf("results stream: %w", err)
	}
	return a, nil
}

// delete removes what createAssets made; the run is over.
func (assets) delete(ctx context.Context, js jetstream.JetStream, n names) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, n.stream())
	_ = js.DeleteObjectStore(ctx, n.files())
	_ = js.DeleteKeyValue(ctx, n.bucket())
}

// runLoop is one run's state, owned by its loop.
type runLoop struct {
	c       *Coordinator
	rr      *loadtest.RemoteRun
	log     *slog.Logger
	kv      jetstream.KeyValue
	results jetstream.Stream
	// handled is the results stream's last message handled, purged is
	// where the stream was purged up to: what the loop handled need not
	// stay in the server's memory.
	handled, purged uint64
	lastPurge       time.Time
	infra           context.Context
	events          chan event
	decoder         *zstd.Decoder
	runners         []runnerState
	started         bool
	stopped         bool
}

func (l *runLoop) count(f func(*runnerState) bool) int {
	n := 0
	for i := range l.runners {
		if f(&l.runners[i]) {
			n++
		}
	}
	return n
}

// run takes the runners through join, ready, start and the run itself.
func (l *runLoop) run(ctx context.Context, setupData json.RawMessage) error {
	c := l.c
	joinTimeout := orDefault(c.JoinTimeout, DefaultJoinTimeout)
	if err := l.phase(ctx, "join", joinTimeout, func(r *runnerState) bool { return r.joined }); err != nil {
		return l.fail(err)
	}
	readyTimeout := orDefault(c.ReadyTimeout, DefaultReadyTimeout)
	if err := l.phase(ctx, "ready", readyTimeout, func(r *runnerState) bool { return r.ready }); err != nil {
		return l.fail(err)
	}
	order := startOrder{Zero: l.rr.Zero(), At: time.Now().Add(startLead), SetupData: setupData}
	if err := l.put(keyStart, order); err != nil {
		return l.fail(fmt.Errorf("start order: %w", err))
	}
	l.started = true
	l.log.Info("start order", "at", order.At)
	return l.execute(ctx)
}

// phase waits until every runner passes done, within timeout.
func (l *runLoop) phase(ctx context.Context, name string, timeout time.Duration, done func(*runnerState) bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for l.count(done) < len(l.runners) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped before the start: %w", context.Cause(ctx))
		case <-deadline.C:
			var missing []string
			for i := range l.runners {
				if !done(&l.runners[i]) {
					missing = append(missing, strconv.Itoa(i))
				}
			}
			return fmt.Errorf("runners %s did not %s within %s", strings.Join(missing, ", "), name, timeout)
		case e := <-l.events:
			if err := l.handle(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// fail stops every runner that joined: the run never started.
func (l *runLoop) fail(err error) error {
	_ = l.put(keyStop, stopOrder{Hard: true, Reason: err.Error()})
	return err
}

// execute runs from the start until every runner is done or lost.
func (l *runLoop) execute(ctx context.Context) error {
	check := time.NewTicker(lossCheckInterval)
	defer check.Stop()
	// The stop order goes out the moment the run is stopped (an
	// abortOnFail threshold, a lost runner, the caller), not when the loop,
	// which may be merging a large partial, gets to it.
	runCtx, stopOrdered := ctx, make(chan struct{})
	orderStop := context.AfterFunc(runCtx, func() {
		defer close(stopOrdered)
		cause := context.Cause(runCtx)
		if err := l.put(keyStop, stopOrder{Hard: errors.Is(cause, scenarios.ErrHardStop), Reason: cause.Error()}); err != nil {
			l.log.Warn("stop order", "err", err)
		}
	})
	defer func() {
		if !orderStop() {
			<-stopOrdered
		}
	}()
	var deadline <-chan time.Time
	for l.count(func(r *runnerState) bool { return r.done || r.lost != "" }) < len(l.runners) {
		select {
		case <-ctx.Done():
			if !l.stopped {
				l.stopped = true
				hard := errors.Is(context.Cause(ctx), scenarios.ErrHardStop)
				wait := 10 * time.Second
				if !hard {
					wait += orDefault(l.c.StopGrace, 30*time.Second)
				}
				deadline = time.After(wait)
			}
			ctx = context.WithoutCancel(ctx)
		case <-deadline:
			for i := range l.runners {
				if r := &l.runners[i]; !r.done && r.lost == "" {
					l.lose(i, "did not stop in time")
				}
			}
		case now := <-check.C:
			l.purge()
			for i := range l.runners {
				r := &l.runners[i]
				switch {
				case r.done || r.lost != "":
				case !r.exited.IsZero() && now.Sub(r.exited) > exitGrace:
					l.lose(i, r.exitWhy)
				case now.Sub(r.lastSeen) > HeartbeatTimeout:
					l.lose(i, fmt.Sprintf("no heartbeat for %s", now.Sub(r.lastSeen).Round(time.Millisecond)))
				}
			}
		case e := <-l.events:
			if err := l.handle(e); err != nil {
				l.rr.Warn(err.Error())
			}
		}
	}
	return nil
}

// purgeInterval is how often the handled results are purged: a purge is a
// JetStream API round trip, and a runner's partials are a few kB a second.
const purgeInterval = 10 * time.Second

// purge drops the results the loop has handled from the stream, at most
// once per purgeInterval: a long run's partials and samples would
// otherwise pile up in the NATS server's memory.
func (l *runLoop) purge() {
	if l.handled <= l.purged || time.Since(l.lastPurge) < purgeInterval {
		return
	}
	l.lastPurge = time.Now()
	ctx, cancel := context.WithTimeout(l.infra, 5*time.Second)
	defer cancel()
	if err := l.results.Purge(ctx, jetstream.WithPurgeSequence(l.handled+1)); err != nil {
		l.log.Warn("results stream: purge", "err", err)
		return
	}
	l.purged = l.handled
}

// lose marks runner i lost and applies the loss policy.
func (l *runLoop) lose(i int, why string) {
	r := &l.runners[i]
	if r.lost != "" || r.done {
		return
	}
	r.lost = why
	r.stats.Lost = why
	msg := fmt.Sprintf("runner %d lost: %s", i, why)
	l.log.Warn("runner lost", "runner", i, "reason", why)
	if !l.started {
		return
	}
	l.rr.Warn(msg)
	if l.c.OnRunnerLoss != LossContinue && !l.stopped {
		l.rr.Abort(loadtest.AbortByGenerator, msg)
	}
}

// handle applies one event to the run's state. An error before the start
// fails the start.
func (l *runLoop) handle(e event) error {
	if e.index < -1 || e.index >= len(l.runners) {
		return nil // not one of ours: a stale or foreign message
	}
	l.handled = max(l.handled, e.seq)
	switch e.kind {
	case "join":
		e.reply <- l.assign(e.join)
	case "ready":
		r := &l.runners[e.index]
		r.ready, r.lastSeen = true, time.Now()
		r.stats.ClockOffset, r.stats.RTT = e.ready.Offset, e.ready.RTT
		l.log.Info("runner ready", "runner", e.index, "clock_offset", r.stats.ClockOffset, "rtt", r.stats.RTT)
	case "heartbeat":
		l.runners[e.index].lastSeen = time.Now()
	case kindPartial:
		r := &l.runners[e.index]
		r.lastSeen = time.Now()
		r.stats.Partials++
		r.stats.Bytes += int64(e.size)
		p, err := decodePartial(l.decoder, e.msg.Data, e.msg.Header.Get(headerEncoding))
		if err != nil {
			return fmt.Errorf("runner %d: %w", e.index, err)
		}
		if err := l.rr.Merge(strconv.Itoa(e.index), p); err != nil {
			return fmt.Errorf("runner %d: %w", e.index, err)
		}
	case kindSamples:
		r := &l.runners[e.index]
		r.lastSeen = time.Now()
		r.stats.Bytes += int64(e.size)
		data, err := decompress(l.decoder, e.msg.Data, e.msg.Header.Get(headerEncoding))
		if err != nil {
			return fmt.Errorf("runner %d: samples: %w", e.index, err)
		}
		samples, err := decodeSamples(data, l.rr.Metric)
		if err != nil {
			return fmt.Errorf("runner %d: %w", e.index, err)
		}
		l.rr.Forward(samples)
	case "done":
		l.finish(e.index, e.report)
	case "exited":
		r := &l.runners[e.index]
		if r.done {
			return nil
		}
		why := "exited"
		if e.err != nil {
			why = fmt.Sprintf("exited: %v", e.err)
		}
		if !l.started {
			return fmt.Errorf("runner %d %s before the start", e.index, why)
		}
		r.exited, r.exitWhy = time.Now(), why
	}
	return nil
}

// assign gives a joining runner its slot and segment.
func (l *runLoop) assign(req joinRequest) Assignment {
	a := Assignment{RunID: l.c.RunID, Runners: len(l.runners), Sequence: l.c.Sequence.String(), Index: -1,
		Samples: l.c.ForwardSamples}
	switch {
	case req.Index >= len(l.runners):
		a.Error = fmt.Sprintf("runner index %d: the run has %d runners", req.Index, len(l.runners))
	case req.Index >= 0 && l.runners[req.Index].joined:
		a.Error = fmt.Sprintf("runner index %d has already joined", req.Index)
	case req.Index >= 0:
		a.Index = req.Index
	default:
		for i := range l.runners {
			if !l.runners[i].joined {
				a.Index = i
				break
			}
		}
		if a.Index < 0 {
			a.Error = "every runner slot is taken"
		}
	}
	if a.Error != "" {
		return a
	}
	r := &l.runners[a.Index]
	r.joined, r.lastSeen = true, time.Now()
	r.stats.Index, r.stats.Host = a.Index, req.Host
	a.Segment = l.c.Sequence[a.Index].String()
	l.log.Info("runner joined", "runner", a.Index, "host", req.Host, "segment", a.Segment)
	return a
}

// finish records a runner's last word: its own abort or failure becomes
// the run's.
func (l *runLoop) finish(i int, d doneReport) {
	r := &l.runners[i]
	if r.done || r.lost != "" {
		return
	}
	r.done = true
	l.log.Info("runner done", "runner", i, "status", d.Status)
	for _, w := range d.Warnings {
		l.rr.Warn(fmt.Sprintf("runner %d: %s", i, w))
	}
	if d.FailedBy != "" {
		l.rr.MarkFailed(d.FailedBy)
	}
	switch {
	case d.Error != "":
		r.done = false
		l.lose(i, d.Error)
	case d.Abort != nil && d.Abort.By == loadtest.AbortByScript:
		l.rr.Abort(loadtest.AbortByScript, d.Abort.Reason)
	}
}

func (l *runLoop) put(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(l.infra, 5*time.Second)
	defer cancel()
	_, err = l.kv.Put(ctx, key, b)
	return err
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
