package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotLoopback is returned by Listen and Start for an address whose host
// is not a loopback address (127.0.0.0/8, ::1 or "localhost").
var ErrNotLoopback = errors.New("address is not loopback")

// ErrClosed is returned by Listen, Serve and Start once the Server is
// closed, and by Serve when it has no listener or already ran.
var ErrClosed = errors.New("target server closed")

// Server is the demo target: an http.Handler with its own Prometheus
// registry, and optionally the loopback listener that serves it. Create it
// with [New]. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	start   time.Time
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *promMetrics
	leak    leakStore
	faults  []*activeFault
	errPPM  uint64
	phase   uint64
	content content
	conns   connSet

	seq       atomic.Uint64 // load requests' arrival numbers
	requests  atomic.Uint64
	errors    atomic.Uint64
	cancelled atomic.Uint64
	inFlight  atomic.Int64
	orders    atomic.Uint64

	eventsMu sync.Mutex // guards events and the writes to Config.Events
	events   []Event

	mu        sync.Mutex // guards the fields below
	ln        *switchListener
	srv       *http.Server
	served    bool
	closed    bool
	baseCtx   context.Context // parent of every served request's context
	cancelReq context.CancelFunc
	wg        sync.WaitGroup // Start's goroutine
}

// New validates cfg (every problem at once, see [Config.Validate]) and
// returns a Server ready to handle requests through [Server.Handler], or to
// listen with [Server.Listen] or [Server.Start]. The fault window's clock
// starts now. New fails only when cfg is invalid.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Epoch.IsZero() {
		cfg.Epoch = cfg.Now()
	}
	s := &Server{
		cfg:     cfg,
		start:   cfg.Epoch,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		errPPM:  toPPM(cfg.ErrorRate),
		phase:   splitmix64(cfg.Seed) % ppm,
		content: newContent(),
	}
	s.leak.max = cfg.LeakMax
	for i, f := range cfg.Faults {
		af := &activeFault{Fault: f, index: i, ratePPM: toPPM(f.Rate), phase: splitmix64(cfg.Seed^uint64(i+1)) % ppm}
		if f.Kind == FaultSaturate {
			af.slots = &slots{sem: make(chan struct{}, f.Slots)}
		}
		s.faults = append(s.faults, af)
	}
	s.baseCtx, s.cancelReq = context.WithCancel(context.Background())
	s.metrics = newPromMetrics(s)
	s.routes()
	return s, nil
}

// Config returns the Server's configuration with every default filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the handler that serves every route. It can be used
// without a listener, e.g. with httptest.NewRecorder; Listen and Start serve
// the same handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Gatherer returns the Server's own Prometheus registry, the one /metrics
// exposes, for in-process scraping. Each Server has its own.
func (s *Server) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// Listen binds addr ("127.0.0.1:0" picks a free port), which must name a
// loopback host: 127.0.0.0/8, ::1 or "localhost" (which must resolve to
// loopback). Any other host, including an empty one, fails with an error
// wrapping ErrNotLoopback. A Server listens at most once.
func (s *Server) Listen(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("listen address %q: %w: the demo target only listens on 127.0.0.0/8 or ::1", addr, ErrNotLoopback)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.ln != nil {
		return fmt.Errorf("listen address %q: already listening on %s", addr, s.ln.Addr())
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		_ = ln.Close()
		return fmt.Errorf("listen address %q: bound %s: %w", addr, ln.Addr(), ErrNotLoopback)
	}
	s.ln = newSwitchListener(ln)
	s.log.Info("demo target listening", "addr", ln.Addr().String(), "profile", s.cfg.Profile.String(), "faults", len(s.cfg.Faults))
	return nil
}

// Serve serves the listener opened by Listen until ctx ends or Close is
// called, and meanwhile writes the events log and closes and reopens the
// listener for refuse faults. When ctx ends it shuts down gracefully: it stops accepting, lets
// running requests finish for up to ShutdownGrace, then cancels them. It
// returns nil once stopped by ctx or Close, and the listener's error if
// serving fails. It fails with ErrClosed without a listener, after Close,
// or when called a second time.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.closed || s.ln == nil || s.served {
		s.mu.Unlock()
		return ErrClosed
	}
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		ConnState:         s.conns.track,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv, s.served = srv, true
	ln := s.ln
	s.mu.Unlock()

	errc := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	schedCtx, stopSchedule := context.WithCancel(ctx)
	defer stopSchedule()
	wg.Go(func() { s.schedule(schedCtx, ln) })
	wg.Go(func() { errc <- srv.Serve(ln) })
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("demo target shutting down", "grace", s.cfg.ShutdownGrace)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("demo target: grace expired, cancelling running requests", "err", err)
		s.cancelReq()
		_ = srv.Close()
	}
	return nil
}

// Start listens on addr like Listen and serves in a goroutine the Server
// owns, until ctx ends (graceful shutdown, as Serve) or Close. Close waits
// for that goroutine. It is the one-call form for tests:
//
//	srv, _ := target.New(target.Config{})
//	if err := srv.Start(ctx, "127.0.0.1:0"); err != nil { … }
//	defer srv.Close()
func (s *Server) Start(ctx context.Context, addr string) error {
	if err := s.Listen(ctx, addr); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.wg.Go(func() {
		if err := s.Serve(ctx); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Error("demo target stopped", "err", err)
		}
	})
	return nil
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL returns the base URL of the bound address, e.g.
// "http://127.0.0.1:41234", or "" before Listen.
func (s *Server) URL() string {
	a := s.Addr()
	if a == nil {
		return ""
	}
	return "http://" + a.String()
}

// Close stops the Server at once: it closes the listener and every
// connection, cancels running requests, waits for the goroutine of Start,
// and releases the memory retained by the Leak profile. It is idempotent;
// the Handler keeps answering afterwards but retains nothing more.
func (s *Server) Close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		s.cancelReq()
		switch {
		case s.srv != nil:
			err = s.srv.Close()
		case s.ln != nil:
			err = s.ln.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.leak.release()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Stats is a snapshot of the Server's counters, to cross-check what a load
// generator saw. Requests to /metrics and /healthz are not counted, so
// scrapes and probes do not disturb the counts.
type Stats struct {
	// Requests counts requests received, on every route but /metrics and
	// /healthz, answered or not yet.
	Requests uint64
	// Errors counts the 500 and 503 answers injected by ErrorRate or the
	// ErrorBurst profile (not /status/500).
	Errors uint64
	// Cancelled counts requests whose context ended (client gone or Close)
	// while they waited; they are answered 499.
	Cancelled uint64
	// InFlight is the number of requests being handled now, including those
	// waiting for a Saturate slot.
	InFlight int64
	// SlotsInUse is the number of Saturate slots held now; Waiting the
	// number of requests queued for one; PeakSlotsInUse the most ever held at
	// once (at most Config.Slots); summed over saturate faults.
	SlotsInUse, Waiting, PeakSlotsInUse int64
	// RetainedBytes is the memory the Leak profile holds (0 after Close).
	RetainedBytes int64
	// FaultActive reports whether a fault's window is open now.
	FaultActive bool
	// Faults has one entry per fault of Config().Faults.
	Faults []FaultStats
}

// FaultStats is one fault's state.
type FaultStats struct {
	Kind FaultKind
	// Active reports whether its window is open now.
	Active bool
	// Requests counts the requests it applied to (all of them for step,
	// drift, stall, leak and saturate; for burst, exception and reset the
	// ones it drew from, of which Rate were hit).
	Requests uint64
}

// Stats returns a snapshot of the counters. Each field is read atomically;
// the snapshot as a whole is not, while requests are running.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:      s.requests.Load(),
		Errors:        s.errors.Load(),
		Cancelled:     s.cancelled.Load(),
		InFlight:      s.inFlight.Load(),
		RetainedBytes: s.leak.bytes.Load(),
	}
	el := s.cfg.Now().Sub(s.start)
	for _, f := range s.faults {
		active := f.window(el)
		st.FaultActive = st.FaultActive || active
		st.Faults = append(st.Faults, FaultStats{Kind: f.Kind, Active: active, Requests: f.hits.Load()})
		if f.slots != nil {
			st.SlotsInUse += f.slots.inUse.Load()
			st.Waiting += f.slots.waiting.Load()
			st.PeakSlotsInUse += f.slots.peak.Load()
		}
	}
	return st
}
