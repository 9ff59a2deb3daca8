package service

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/loadlens/loadlens/store"
)

// Server is the agent: its HTTP handler and the tests it runs. It is safe
// for concurrent use. Create it with New; stop it with Shutdown.
type Server struct {
	cfg     Config
	st      *store.Store
	logger  *slog.Logger
	handler http.Handler
	metrics *serverMetrics

	// runsCtx is the parent of every run's context; Shutdown cancels it
	// with errShutdown. bgCtx bounds analyses and alerts: Shutdown cancels
	// it when its own context ends.
	runsCtx  context.Context
	stopRuns context.CancelCauseFunc
	bgCtx    context.Context
	stopBG   context.CancelFunc
	stopping chan struct{} // closed by Shutdown: SSE streams end
	runs     sync.WaitGroup

	initSlots chan struct{} // a token per script running its init code
	// tenantInits holds each tenant's share of initSlots (half of them, at
	// least one), so that one tenant's slow init code never holds them all.
	tenantInits map[string]chan struct{}
	initsMu     sync.Mutex
	cpuShares   *cpuShares // nil without a sandbox

	sched     *scheduler
	stopSched context.CancelFunc
	schedDone chan struct{} // closed when the schedule loop returned
	stopBeat  context.CancelFunc
	beatDone  chan struct{} // closed when the heartbeat loop returned

	mu        sync.Mutex
	closing   bool
	live      map[string]*liveRun
	perTenant map[string]int
	shutdown  sync.Once
}

// New returns a Server on cfg.Store. Runs that the store still holds as
// queued or running were cut off by a crash or kill of an earlier agent:
// New marks them interrupted (their finished results, if any, are kept).
func New(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, st: c.Store, logger: c.Logger, stopping: make(chan struct{}),
		live: map[string]*liveRun{}, perTenant: map[string]int{}, initSlots: make(chan struct{}, c.MaxConcurrentInits),
		tenantInits: map[string]chan struct{}{}}
	s.runsCtx, s.stopRuns = context.WithCancelCause(context.Background())
	s.bgCtx, s.stopBG = context.WithCancel(context.Background())
	s.metrics = newServerMetrics(s)
	if c.Sandbox != nil {
		s.cpuShares = newCPUShares(c.Sandbox.Nice, s.logger)
		if _, err := landlockABI(); err != nil && c.Sandbox.Start == nil {
			s.logger.Warn("sandbox children run unconfined: a script that escaped the JavaScript runtime "+
				"could read whatever the agent's user can", "reason", err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.recoverRuns(ctx, true); err != nil {
		s.stopRuns(nil)
		s.stopBG()
		return nil, err
	}
	s.handler = s.routes()
	s.sched = &scheduler{st: s.st, logger: s.logger, replica: c.Replica, grace: max(time.Minute, 2*c.SchedulePoll),
		start: s.startScheduled}
	var schedCtx context.Context
	schedCtx, s.stopSched = context.WithCancel(s.runsCtx)
	s.schedDone = make(chan struct{})
	if c.SchedulePoll > 0 {
		go func() { // owned: Shutdown waits for schedDone
			defer close(s.schedDone)
			s.scheduleLoop(schedCtx)
		}()
	} else {
		close(s.schedDone)
	}
	var beatCtx context.Context
	beatCtx, s.stopBeat = context.WithCancel(context.Background())
	s.beatDone = make(chan struct{})
	go func() { // owned: Shutdown waits for beatDone
		defer close(s.beatDone)
		s.replicaLoop(beatCtx)
	}()
	return s, nil
}

// now is the schedules' clock.
func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

// Shutdown stops the agent: new tests are refused (503), SSE streams end,
// running tests are stopped at once (interrupting running iterations) and
// recorded as interrupted with their partial results, and their analyses
// and alerts are given until ctx ends. It returns when every test
// goroutine has returned, and ctx.Err() when ctx ended first (analyses and
// alerts are then cancelled). Call it before http.Server.Shutdown, whose
// wait for idle connections SSE streams would otherwise hold up. Calls
// after the first return at once.
func (s *Server) Shutdown(ctx context.Context) error {
	first := false
	s.shutdown.Do(func() {
		first = true
		s.stopSched()
		<-s.schedDone // no slot starts a run past this point
		s.mu.Lock()
		s.closing = true
		n := len(s.live)
		s.mu.Unlock()
		close(s.stopping)
		s.logger.Info("agent shutting down", "running_tests", n)
		s.stopRuns(errShutdown)
	})
	if !first {
		return nil
	}
	done := make(chan struct{})
	go func() { // owned: Shutdown waits for it below in both branches
		s.runs.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		s.stopBG()
		<-done
	}
	s.stopBG()
	s.stopBeat() // after the runs: they are live until they end
	<-s.beatDone
	return err
}

// principal is who sent a request.
type principal struct {
	tenant store.Tenant
	keyID  string
}

// authenticate finds the request's tenant from its API key.
func (s *Server) authenticate(r *http.Request) (principal, error) {
	key := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return principal{}, errUnauthorized
		}
		key = strings.TrimSpace(rest)
	} else {
		key = strings.TrimSpace(r.Header.Get("X-API-Key"))
	}
	if key == "" {
		return principal{}, errUnauthorized
	}
	t, keyID, err := s.st.Authenticate(r.Context(), key)
	if err != nil {
		if err == store.ErrBadKey {
			return principal{}, errUnauthorized
		}
		return principal{}, err
	}
	if claimed := r.Header.Get("X-Tenant-ID"); claimed != "" &&
		subtle.ConstantTimeCompare([]byte(claimed), []byte(t.ID)) != 1 {
		return principal{}, errTenantMismatch
	}
	return principal{tenant: t, keyID: keyID}, nil
}

// authed wraps a handler that needs a tenant.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			// Closing the connection answers at once: net/http would
			// otherwise wait for the unread body to keep it alive, and a
			// client without a key could hold it open for as long as it
			// declared a body and sent none.
			w.Header().Set("Connection", "close")
			s.writeError(w, r, err)
			return
		}
		if info, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
			info.tenant = p.tenant.ID
		}
		h(w, r, p)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /load-test/start", s.authed(s.handleStart))
	mux.HandleFunc("POST /load-test/quick-stress", s.authed(s.handleQuickStress))
	mux.HandleFunc("GET /load-test/list", s.authed(s.handleList))
	mux.HandleFunc("GET /load-test/{id}/status", s.authed(s.handleStatus))
	mux.HandleFunc("GET /load-test/{id}/result", s.authed(s.handleResult))
	mux.HandleFunc("GET /load-test/{id}/events", s.authed(s.handleEvents))
	mux.HandleFunc("GET /load-test/{id}/report.html", s.authed(s.handleReport))
	mux.HandleFunc("GET /load-test/{id}/compare/{other}", s.authed(s.handleCompare))
	mux.HandleFunc("POST /load-test/{id}/cancel", s.authed(s.handleCancel))
	mux.HandleFunc("DELETE /load-test/{id}", s.authed(s.handleDelete))
	mux.HandleFunc("POST /load-test/{id}/scale", s.authed(s.handleScale))
	mux.HandleFunc("POST /load-test/{id}/baseline", s.authed(s.handleBaseline))
	mux.HandleFunc("GET /audit", s.authed(s.handleAudit))
	mux.HandleFunc("POST /schedules", s.authed(s.handleCreateSchedule))
	mux.HandleFunc("GET /schedules", s.authed(s.handleListSchedules))
	mux.HandleFunc("GET /schedules/{id}", s.authed(s.handleGetSchedule))
	mux.HandleFunc("PUT /schedules/{id}", s.authed(s.handleUpdateSchedule))
	mux.HandleFunc("DELETE /schedules/{id}", s.authed(s.handleDeleteSchedule))
	mux.HandleFunc("PUT /budgets/{test}", s.authed(s.handlePutBudgets))
	mux.HandleFunc("GET /budgets/{test}", s.authed(s.handleGetBudgets))
	mux.HandleFunc("DELETE /budgets/{test}", s.authed(s.handleDeleteBudgets))
	mux.HandleFunc("GET /budgets/{test}/history", s.authed(s.handleBudgetHistory))
	mux.HandleFunc("GET /tests/{name}/trend", s.authed(s.handleTrend))
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /openapi.json", handleOpenAPI)
	return s.observe(jsonMisses(mux))
}

// jsonMisses answers requests that match no route (404) or none for their
// method (405, with Allow) with the documented JSON error body, where
// ServeMux would write plain text.
func jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		miss := &missWriter{header: http.Header{}}
		h.ServeHTTP(miss, r)
		msg := "not found"
		if allow := miss.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
			msg = fmt.Sprintf("method %s not allowed; allowed: %s", r.Method, allow)
		}
		writeJSON(w, miss.status, errorBody{Errors: []string{msg}})
	})
}

// missWriter keeps the status and headers ServeMux gives a miss, and drops
// its plain-text body.
type missWriter struct {
	header http.Header
	status int
}

func (m *missWriter) Header() http.Header         { return m.header }
func (m *missWriter) Write(b []byte) (int, error) { return len(b), nil }
func (m *missWriter) WriteHeader(status int)      { m.status = status }

type reqInfoKey struct{}

// reqInfo is filled while a request is served, for its log line.
type reqInfo struct{ tenant string }

// statusWriter records the status a handler writes; Unwrap lets
// http.ResponseController reach the Flusher of the connection.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// observe logs and counts every request by route and status. It never logs
// headers or bodies: they carry API keys and target tokens.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		elapsed := time.Since(start)
		s.metrics.observe(route, r.Method, sw.status, elapsed)
		level := slog.LevelDebug
		switch {
		case sw.status >= 500:
			level = slog.LevelError
		case r.Method != http.MethodGet:
			level = slog.LevelInfo
		}
		s.logger.Log(r.Context(), level, "request", "method", r.Method, "route", route, "path", r.URL.Path,
			"status", sw.status, "duration_ms", float64(elapsed.Microseconds())/1000, "tenant", info.tenant)
	})
}
