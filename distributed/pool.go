package distributed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Process is what a [PoolRunner] runs for a session: a process on the
// runner's machine (the agent's sandbox child) whose input and output
// travel over NATS. Its methods are safe for concurrent use.
type Process interface {
	// Input takes what the session's owner sends; closing it says the
	// owner is done.
	Input() io.WriteCloser
	// Output is what the process sends; it ends when the process does.
	Output() io.Reader
	// Kill ends the process at once.
	Kill()
	// Wait returns once the process has ended, with what its end tells
	// (nil for a clean exit).
	Wait() error
}

// The pool's work queue, the consumer runners share, and the bucket in
// which runners say they are there.
const (
	poolStream   = "loadlens-pool"
	poolSubject  = "loadlens.pool.sessions"
	poolConsumer = "loadlens-runners"
	poolRunners  = "loadlens-runners"
)

// DefaultTakeTimeout is how long a session waits for a runner to take it.
const DefaultTakeTimeout = 30 * time.Second

// sessionMaxBytes bounds what one session's stream holds (a run's result
// is the largest message; the agent bounds it far below this): a process
// that floods it gets an error, not the NATS server's memory.
const sessionMaxBytes = 256 << 20

// sessionChunk is the largest message a session's byte stream is cut
// into: well under NATS's default 1 MB message.
const sessionChunk = 128 << 10

// Headers of a session's last output message: headerEOF marks it, and
// headerExit says how the process ended (empty: cleanly).
const (
	headerEOF  = "Loadlens-EOF"
	headerExit = "Loadlens-Exit"
)

// Names of one session's subjects and stream.
type sessionNames struct{ id string }

func (n sessionNames) subject(kind string) string { return "loadlens.session." + n.id + "." + kind }
func (n sessionNames) take() string               { return n.subject("take") }
func (n sessionNames) in() string                 { return n.subject("in") }
func (n sessionNames) out() string                { return n.subject("out") }
func (n sessionNames) kill() string               { return n.subject("kill") }
func (n sessionNames) runnerHeartbeat() string    { return n.subject("hb.runner") }
func (n sessionNames) ownerHeartbeat() string     { return n.subject("hb.owner") }
func (n sessionNames) stream() string             { return "loadlens-session-" + n.id }

type sessionOffer struct {
	Session string `json:"session"`
}

type takeRequest struct {
	Runner string `json:"runner"`
}

type takeReply struct {
	Error string `json:"error,omitempty"`
}

// registrationInterval is how often a pool runner renews its entry in
// the runners' bucket, whose entries live 3 × HeartbeatTimeout: a put (a
// JetStream write) every 3 s instead of every second keeps an idle
// runner listed with three renewals in a TTL.
const registrationInterval = HeartbeatTimeout

type runnerEntry struct {
	Host  string `json:"host"`
	Slots int    `json:"slots"`
	Busy  int64  `json:"busy"`
}

// ensurePool creates the pool's work queue, its runners' consumer and
// their bucket, or finds them: the agent and the runners may start in any
// order.
func ensurePool(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, jetstream.KeyValue, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: poolStream, Subjects: []string{poolSubject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.MemoryStorage}); err != nil {
		return nil, nil, fmt.Errorf("pool work queue: %w", err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, poolStream, jetstream.ConsumerConfig{Durable: poolConsumer,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("pool consumer: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: poolRunners, Storage: jetstream.MemoryStorage,
		TTL: 3 * HeartbeatTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("pool runners: %w", err)
	}
	return cons, kv, nil
}

// Pool hands sessions to the runners of a pool ([PoolRunner]) over NATS:
// each session is a message of a JetStream work queue, which one idle
// runner takes; the runner then runs a process for it and carries the
// process's input and output over the session's subjects. The agent's
// `serve --nats` runs tenants' tests this way.
//
// Anyone who can use the NATS account reads the sessions: give the pool
// an account of its own.
type Pool struct {
	// Conn is the connection to NATS (with JetStream); required.
	Conn *nats.Conn
	// TakeTimeout bounds the wait for a runner to take a session; default
	// DefaultTakeTimeout.
	TakeTimeout time.Duration
	// Logger receives the sessions' events; nil discards them.
	Logger *slog.Logger
}

// Runners returns the names of the runners that said they were there in
// the last few heartbeats.
func (p *Pool) Runners(ctx context.Context) ([]string, error) {
	js, err := jetstream.New(p.Conn)
	if err != nil {
		return nil, err
	}
	_, kv, err := ensurePool(ctx, js)
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range lister.Keys() {
		names = append(names, k)
	}
	return names, nil
}

// Start offers a session to the pool and returns once a runner took it
// and runs its process, or fails after TakeTimeout. ctx bounds the wait
// only: the session lasts until Kill.
func (p *Pool) Start(ctx context.Context) (*Session, error) {
	if p.Conn == nil {
		return nil, errors.New("pool: conn: required")
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(p.Conn)
	if err != nil {
		return nil, err
	}
	infra := context.WithoutCancel(ctx)
	timeout := orDefault(p.TakeTimeout, DefaultTakeTimeout)
	// The session's setup has the take's time too, not JetStream's 5 s
	// default per call: on a busy machine a stream's creation took longer.
	setup, cancelSetup := context.WithTimeout(ctx, timeout)
	defer cancelSetup()
	if _, _, err := ensurePool(setup, js); err != nil {
		return nil, err
	}
	n := sessionNames{NewRunID()}
	s := &Session{js: js, conn: p.Conn, n: n, log: log.With("session", n.id), ended: make(chan struct{})}
	s.pr, s.pw = io.Pipe()
	if _, err := js.CreateStream(setup, jetstream.StreamConfig{Name: n.stream(), Subjects: []string{n.in(), n.out()},
		Storage: jetstream.MemoryStorage, MaxBytes: sessionMaxBytes, Discard: jetstream.DiscardNew}); err != nil {
		return nil, fmt.Errorf("session stream: %w", err)
	}
	s.bg, s.stopBG = context.WithCancel(infra)
	taken := make(chan string, 1)
	var once sync.Once
	take, err := p.Conn.Subscribe(n.take(), func(m *nats.Msg) {
		var req takeRequest
		_ = json.Unmarshal(m.Data, &req)
		reply := takeReply{Error: "the session is taken"}
		once.Do(func() {
			reply.Error = ""
			s.lastRunner.Store(time.Now().UnixNano())
			taken <- req.Runner
		})
		b, _ := json.Marshal(reply)
		_ = m.Respond(b)
	})
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.subs = append(s.subs, take)
	hb, err := p.Conn.Subscribe(n.runnerHeartbeat(), func(*nats.Msg) { s.lastRunner.Store(time.Now().UnixNano()) })
	if err != nil {
		s.cleanup()
		return nil, err
	}
	s.subs = append(s.subs, hb)
	offer, _ := json.Marshal(sessionOffer{Session: n.id})
	ack, err := js.Publish(setup, poolSubject, offer)
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("pool: offering the session: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case s.runner = <-taken:
	case <-t.C:
		err = fmt.Errorf("no runner of the pool took the test within %s", timeout)
		if names, rerr := p.Runners(infra); rerr == nil {
			err = fmt.Errorf("%w (%d runners registered)", err, len(names))
		}
	case <-ctx.Done():
		err = context.Cause(ctx)
	}
	if err != nil {
		// Withdrawn; a runner that took it meanwhile finds no one to answer.
		dctx, cancel := context.WithTimeout(infra, 5*time.Second)
		if st, serr := js.Stream(dctx, poolStream); serr == nil {
			_ = st.DeleteMsg(dctx, ack.Sequence)
		}
		cancel()
		s.cleanup()
		return nil, err
	}
	s.log = s.log.With("runner", s.runner)
	s.log.Info("session taken")
	out, err := js.OrderedConsumer(infra, n.stream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{n.out()}})
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("session output: %w", err)
	}
	msgs, err := out.Messages()
	if err != nil {
		s.cleanup()
		return nil, fmt.Errorf("session output: %w", err)
	}
	s.wg.Go(func() { s.readOutput(msgs) })
	s.wg.Go(func() {
		<-s.bg.Done()
		msgs.Stop()
	})
	s.wg.Go(s.heartbeat)
	return s, nil
}

// Session is one process on a runner of a [Pool], from the side that
// started it. Its methods are safe for concurrent use.
type Session struct {
	js     jetstream.JetStream
	conn   *nats.Conn
	n      sessionNames
	log    *slog.Logger
	runner string

	pr *io.PipeReader
	pw *io.PipeWriter

	lastRunner atomic.Int64 // Unix nanoseconds of the runner's last heartbeat
	subs       []*nats.Subscription
	bg         context.Context
	stopBG     context.CancelFunc
	wg         sync.WaitGroup

	endOnce sync.Once
	ended   chan struct{}
	why     error
	inMu    sync.Mutex
	inDone  bool
	killed  sync.Once
}

// Runner is the name of the runner that took the session.
func (s *Session) Runner() string { return s.runner }

// Input implements Process.
func (s *Session) Input() io.WriteCloser { return sessionInput{s} }

// Output implements Process.
func (s *Session) Output() io.Reader { return s.pr }

// Wait implements Process: how the process ended on the runner, or that
// the runner was lost.
func (s *Session) Wait() error {
	<-s.ended
	return s.why
}

// Kill implements Process: the runner kills the process, and the session
// ends; it returns once the session's goroutines have ended.
func (s *Session) Kill() {
	s.killed.Do(func() {
		_ = s.conn.Publish(s.n.kill(), nil)
		s.end(nil, false)
		s.cleanup()
	})
}

// end records how the session ended, once, and ends its output: with
// an error when the output was cut short.
func (s *Session) end(why error, cut bool) {
	s.endOnce.Do(func() {
		s.why = why
		close(s.ended)
		if cut {
			_ = s.pw.CloseWithError(why)
		} else {
			_ = s.pw.Close()
		}
	})
}

// cleanup stops the session's goroutines and removes its stream.
func (s *Session) cleanup() {
	s.end(errors.New("session closed"), true)
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	if s.stopBG != nil {
		s.stopBG()
	}
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.js.DeleteStream(ctx, s.n.stream())
}

// readOutput carries the process's output into the pipe Output reads,
// until the runner's last message.
func (s *Session) readOutput(msgs jetstream.MessagesContext) {
	for {
		m, err := msgs.Next()
		if err != nil {
			return // stopped: the session is over
		}
		if m.Headers().Get(headerEOF) != "" {
			var why error
			if w := m.Headers().Get(headerExit); w != "" {
				why = errors.New(w)
			}
			s.end(why, false)
			return
		}
		if _, err := s.pw.Write(m.Data()); err != nil {
			return // the session ended
		}
	}
}

// heartbeat tells the runner the session's owner is there, and ends the
// session when the runner goes silent for HeartbeatTimeout.
func (s *Session) heartbeat() {
	// One ticker for both: the owner's heartbeat and the runner's check.
	t := time.NewTicker(min(HeartbeatInterval, lossCheckInterval))
	defer t.Stop()
	for {
		_ = s.conn.Publish(s.n.ownerHeartbeat(), nil)
		select {
		case <-s.bg.Done():
			return
		case <-s.ended:
			return
		case now := <-t.C:
			if silent := now.Sub(time.Unix(0, s.lastRunner.Load())); silent > HeartbeatTimeout {
				s.log.Warn("runner lost", "silent", silent)
				s.end(fmt.Errorf("runner %s lost: no heartbeat for %s", s.runner, silent.Round(time.Millisecond)), true)
				return
			}
		}
	}
}

// sessionInput sends what is written to the process's input, in order,
// each chunk acknowledged by the NATS server.
type sessionInput struct{ s *Session }

func (w sessionInput) Write(p []byte) (int, error) {
	w.s.inMu.Lock()
	defer w.s.inMu.Unlock()
	if w.s.inDone {
		return 0, io.ErrClosedPipe
	}
	return publishChunks(w.s.bg, w.s.js, w.s.n.in(), p)
}

func (w sessionInput) Close() error {
	w.s.inMu.Lock()
	defer w.s.inMu.Unlock()
	if w.s.inDone {
		return nil
	}
	w.s.inDone = true
	return publishEOF(w.s.bg, w.s.js, w.s.n.in(), nil)
}

// publishChunks publishes p on subject in chunks of at most sessionChunk.
func publishChunks(ctx context.Context, js jetstream.JetStream, subject string, p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), sessionChunk)]
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.Publish(pctx, subject, chunk)
		cancel()
		if err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// publishEOF publishes the last message of a byte stream, with how its
// process ended.
func publishEOF(ctx context.Context, js jetstream.JetStream, subject string, why error) error {
	m := nats.NewMsg(subject)
	m.Header.Set(headerEOF, "1")
	if why != nil {
		m.Header.Set(headerExit, why.Error())
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := js.PublishMsg(pctx, m)
	return err
}

// PoolRunner is a runner of a [Pool]: it takes sessions from the pool's
// work queue, one per slot at a time, starts a Process for each and
// carries the process's input and output over NATS. It says it is there
// every HeartbeatInterval. When a session's owner goes silent for
// HeartbeatTimeout, or asks, the process is killed; when the runner
// stops, so are its processes.
type PoolRunner struct {
	// Conn is the connection to the pool's NATS; required.
	Conn *nats.Conn
	// Name names the runner to the pool; default the host name and
	// process ID.
	Name string
	// Slots is how many sessions the runner serves at once; default 1.
	Slots int
	// Start starts a session's process; required.
	Start func(ctx context.Context) (Process, error)
	// Logger receives the runner's events; nil discards them.
	Logger *slog.Logger

	busy atomic.Int64
}

// Run serves sessions until ctx ends, then kills the processes still
// running and returns once every goroutine it started has ended.
func (r *PoolRunner) Run(ctx context.Context) error {
	if err := errors.Join(nilErr(r.Conn == nil, "conn"), nilErr(r.Start == nil, "start")); err != nil {
		return fmt.Errorf("pool runner: %w", err)
	}
	name := r.Name
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("runner", name)
	js, err := jetstream.New(r.Conn)
	if err != nil {
		return err
	}
	cons, kv, err := ensurePool(ctx, js)
	if err != nil {
		return err
	}
	slots := max(r.Slots, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // registration
		host, _ := os.Hostname()
		t := time.NewTicker(registrationInterval)
		defer t.Stop()
		for {
			b, _ := json.Marshal(runnerEntry{Host: host, Slots: slots, Busy: r.busy.Load()})
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := kv.Put(pctx, name, b); err != nil && ctx.Err() == nil {
				log.Warn("registration", "err", err)
			}
			cancel()
			select {
			case <-ctx.Done():
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_ = kv.Delete(dctx, name)
				cancel()
				return
			case <-t.C:
			}
		}
	})
	for range slots {
		wg.Go(func() {
			for ctx.Err() == nil {
				// One pull request that waits (30 s, with the server's
				// heartbeats) until an offer comes or ctx ends: an idle
				// runner is not woken every second to ask again.
				batch, err := cons.Fetch(1, jetstream.FetchContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						log.Warn("pool work queue", "err", err)
						sleep(ctx, time.Second)
					}
					continue
				}
				for m := range batch.Messages() {
					if ctx.Err() != nil {
						_ = m.Nak() // for another runner
						continue
					}
					_ = m.Ack()
					var offer sessionOffer
					if err := json.Unmarshal(m.Data(), &offer); err != nil || validRunID(offer.Session) != nil {
						log.Warn("pool: a malformed offer", "data", string(m.Data()))
						continue
					}
					r.busy.Add(1)
					r.serve(ctx, js, name, sessionNames{offer.Session}, log.With("session", offer.Session))
					r.busy.Add(-1)
				}
			}
		})
	}
	<-ctx.Done()
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// serve runs one session: takes it, starts its process, carries its
// input and output, and reports its end.
func (r *PoolRunner) serve(ctx context.Context, js jetstream.JetStream, name string, n sessionNames, log *slog.Logger) {
	req, _ := json.Marshal(takeRequest{Runner: name})
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	msg, err := r.Conn.RequestWithContext(tctx, n.take(), req)
	cancel()
	var reply takeReply
	if err == nil {
		err = json.Unmarshal(msg.Data, &reply)
	}
	if err != nil || reply.Error != "" {
		log.Info("session not taken: its owner is gone", "err", err, "reply", reply.Error)
		return
	}
	infra := context.WithoutCancel(ctx)
	proc, err := r.Start(ctx)
	if err != nil {
		log.Warn("starting the process", "err", err)
		_ = publishEOF(infra, js, n.out(), fmt.Errorf("runner %s could not start the test's process: %w", name, err))
		return
	}
	log.Info("session started")

	sessCtx, endSession := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var lastOwner atomic.Int64
	lastOwner.Store(time.Now().UnixNano())
	var stopped atomic.Pointer[string] // why the runner killed the process
	kill := func(why string) {
		if stopped.CompareAndSwap(nil, &why) {
			log.Warn("killing the process", "why", why)
		}
		proc.Kill()
	}
	var subs []*nats.Subscription
	for subject, h := range map[string]nats.MsgHandler{
		n.ownerHeartbeat(): func(*nats.Msg) { lastOwner.Store(time.Now().UnixNano()) },
		n.kill():           func(*nats.Msg) { kill("") },
	} {
		if sub, err := r.Conn.Subscribe(subject, h); err == nil {
			subs = append(subs, sub)
		} else {
			kill(fmt.Sprintf("subscribing to the session: %v", err))
		}
	}
	wg.Go(func() { // the runner's heartbeat, and the owner's watch
		t := time.NewTicker(HeartbeatInterval)
		defer t.Stop()
		for {
			_ = r.Conn.Publish(n.runnerHeartbeat(), nil)
			select {
			case <-sessCtx.Done():
				if ctx.Err() != nil {
					kill(fmt.Sprintf("runner %s stopped", name))
				}
				return
			case <-t.C:
			}
			if silent := time.Since(time.Unix(0, lastOwner.Load())); silent > HeartbeatTimeout {
				kill(fmt.Sprintf("the session's owner went silent for %s", silent.Round(time.Millisecond)))
			}
		}
	})
	wg.Go(func() { // the process's input
		in, err := js.OrderedConsumer(sessCtx, n.stream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{n.in()}})
		if err != nil {
			kill(fmt.Sprintf("session input: %v", err))
			return
		}
		msgs, err := in.Messages()
		if err != nil {
			kill(fmt.Sprintf("session input: %v", err))
			return
		}
		defer msgs.Stop()
		defer context.AfterFunc(sessCtx, msgs.Stop)()
		w := proc.Input()
		defer w.Close()
		for {
			m, err := msgs.Next()
			if err != nil || m.Headers().Get(headerEOF) != "" {
				return
			}
			if _, err := w.Write(m.Data()); err != nil {
				return // the process is gone: its output's end says why
			}
		}
	})

	buf := make([]byte, sessionChunk)
	out := proc.Output()
	for {
		k, err := out.Read(buf)
		if k > 0 {
			if _, perr := publishChunks(infra, js, n.out(), buf[:k]); perr != nil {
				kill(fmt.Sprintf("session output: %v", perr))
			}
		}
		if err != nil {
			break
		}
	}
	why := proc.Wait()
	if s := stopped.Load(); s != nil && *s != "" {
		why = errors.New(*s)
	}
	_ = publishEOF(infra, js, n.out(), why)
	endSession()
	wg.Wait()
	for _, sub := range subs {
		_ = sub.Unsubscribe()
	}
	log.Info("session ended", "why", why)
}
