package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
	"github.com/loadlens/loadlens/store"
)

// readBody reads a request body of at most max bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, invalid(fmt.Sprintf("body: larger than %d bytes", max))
	}
	if err != nil {
		return nil, invalid("body: " + err.Error())
	}
	return b, nil
}

// requestBody is readBody for a handler: on an error it writes the
// response and returns false.
func (s *Server) requestBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return b, true
}

// StartResponse is the body of a 202 from start and quick-stress.
type StartResponse struct {
	ID       string      `json:"id"`
	State    store.State `json:"state"`
	Name     string      `json:"name"`
	TestType string      `json:"test_type"`
	// Warnings are the plan's (ignored options and the like).
	Warnings []string `json:"warnings,omitempty"`
	// Links are the run's URLs, relative to the agent.
	Links map[string]string `json:"links"`
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, p principal) {
	s.start(w, r, p, func() (startRequest, error) { return s.readStart(w, r) })
}

// prepare builds a tenant's plan and checks it against the tenant's limits.
// It runs after admission, so a tenant's scripts never run their init code
// beyond its concurrency limit. A prepared plan that is not launched must
// be discarded.
func (s *Server) prepare(ctx context.Context, p principal, req startRequest) (prepared, error) {
	lim := mergeLimits(p.tenant.Limits, s.cfg.Limits)
	prep, err := s.buildPlan(ctx, p.tenant.ID, req, lim)
	if err != nil {
		return prepared{}, err
	}
	if err := s.checkLimits(ctx, lim, req.spec, prep.plan); err != nil {
		prep.discard()
		return prepared{}, err
	}
	prep.dial = s.dialAllowlist(ctx, parseAllowlist(lim.AllowedHosts), targetURLs(req.spec, prep.plan))
	return prep, nil
}

// redactSpec returns the spec as stored: secrets hidden by name and by
// shape anywhere in it (the target's auth token, headers, env values,
// fields of request bodies, URL passwords and secret query parameters).
func redactSpec(spec loadtest.TestSpec) json.RawMessage {
	b, _ := json.Marshal(redact.JSON(jsonValue(spec))) // plain data: cannot fail
	return b
}

// start answers a request to start a test: see begin.
func (s *Server) start(w http.ResponseWriter, r *http.Request, p principal, read func() (startRequest, error)) {
	resp, err := s.begin(r.Context(), p, read, origin{})
	if err != nil {
		var refused *notAdmitted
		if errors.As(err, &refused) {
			w.Header().Set("Connection", "close") // its body, unread, need not be waited for
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// origin is what started a run besides a request: a schedule's slot.
type origin struct {
	schedule string
	slot     time.Time
}

// notAdmitted is a start refused before its request was read.
type notAdmitted struct{ err error }

func (e *notAdmitted) Error() string { return e.err.Error() }
func (e *notAdmitted) Unwrap() error { return e.err }

// begin admits, reads, prepares, records and launches a test: the one
// start path of requests and schedules alike. Admission comes first: it is
// cheap arithmetic, and a tenant over its concurrency limit must not get to
// upload files or run script code.
func (s *Server) begin(ctx context.Context, p principal, read func() (startRequest, error), o origin) (StartResponse, error) {
	lim := mergeLimits(p.tenant.Limits, s.cfg.Limits)
	if err := s.admit(p.tenant.ID, lim.MaxConcurrent); err != nil {
		return StartResponse{}, &notAdmitted{err}
	}
	if err := s.checkStorage(ctx, p.tenant.ID); err != nil {
		s.release(p.tenant.ID)
		return StartResponse{}, &notAdmitted{err}
	}
	req, err := read()
	if err != nil {
		s.release(p.tenant.ID)
		return StartResponse{}, err
	}
	spec := req.spec
	prep, err := s.prepare(ctx, p, req)
	if err != nil {
		s.release(p.tenant.ID)
		return StartResponse{}, err
	}
	plan := prep.plan
	name := plan.Name
	if name == "" {
		name = spec.Name
	}
	testType := plan.TestType
	if testType == "" {
		testType = loadtest.TestCustom
	}
	run, err := s.st.CreateRun(ctx, p.tenant.ID, store.Run{Name: name, TestType: testType, Actor: p.keyID, Spec: redactSpec(spec),
		Schedule: o.schedule, Slot: o.slot, Replica: s.cfg.Replica})
	if err != nil {
		prep.discard()
		s.release(p.tenant.ID)
		return StartResponse{}, err
	}
	lr := &liveRun{id: run.ID, tenant: p.tenant.ID, name: name, testType: testType, actor: p.keyID, created: run.Created,
		state: store.Queued, origin: o}
	lr.ctx, lr.cancel = context.WithCancelCause(s.runsCtx)
	if err := s.launch(lr, prep); err != nil {
		prep.discard()
		lr.cancel(err)
		s.release(p.tenant.ID)
		if ferr := s.st.Finish(context.WithoutCancel(ctx), p.tenant.ID, run.ID, store.Finish{State: store.Interrupted,
			Ended: time.Now(), Error: err.Error()}); ferr != nil {
			s.logger.Error("recording a refused run", "run", run.ID, "error", ferr)
		}
		return StartResponse{}, err
	}
	s.audit(ctx, p, "start", run.ID, fmt.Sprintf("%s test %q", testType, name))
	return StartResponse{ID: run.ID, State: store.Queued, Name: name, TestType: testType, Warnings: prep.warnings, Links: links(run.ID)}, nil
}

func links(id string) map[string]string {
	base := "/load-test/" + id
	return map[string]string{"status": base + "/status", "result": base + "/result", "events": base + "/events",
		"cancel": base + "/cancel", "report": base + "/report.html"}
}

func (s *Server) audit(ctx context.Context, p principal, action, runID, detail string) {
	if err := s.st.Audit(context.WithoutCancel(ctx), p.tenant.ID, store.AuditEvent{Actor: p.keyID, Action: action, RunID: runID, Detail: detail}); err != nil {
		s.logger.Error("audit", "tenant", p.tenant.ID, "action", action, "run", runID, "error", err)
	}
}

// quickStressSpec builds the spec of POST /load-test/quick-stress from its
// query: target_url (required), duration_minutes (default 1) and
// virtual_users (default 10).
func quickStressSpec(q url.Values) (loadtest.TestSpec, error) {
	var problems []string
	spec := loadtest.TestSpec{TestType: loadtest.TestStress, Name: "quick-stress"}
	raw := q.Get("target_url")
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		problems = append(problems, "target_url: required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problems = append(problems, fmt.Sprintf("target_url: want an http:// or https:// URL with a host, got %q", raw))
	default:
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		if u.RawQuery != "" {
			path += "?" + u.RawQuery
		}
		spec.Target = &loadtest.Target{Name: "quick-stress", BaseURL: u.Scheme + "://" + u.Host, Endpoints: []loadtest.Endpoint{{Path: path}}}
	}
	minutes := 1.0
	if v := q.Get("duration_minutes"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || f > 24*60 {
			problems = append(problems, fmt.Sprintf("duration_minutes: want a number of minutes > 0, got %q", v))
		}
		minutes = f
	}
	// duration_minutes is the whole test: the stress preset's three ramps
	// take half of it, the steady stage the other half.
	steady, ramp := minutes/2, minutes*60/6
	spec.DurationMinutes, spec.RampUpDurationSeconds = &steady, &ramp
	spec.VirtualUsers = new(int64(10))
	if v := q.Get("virtual_users"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("virtual_users: want a whole number > 0, got %q", v))
		}
		spec.VirtualUsers = &n
	}
	for k := range q {
		switch k {
		case "target_url", "duration_minutes", "virtual_users":
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown parameter; want target_url, duration_minutes, virtual_users", k))
		}
	}
	if len(problems) > 0 {
		return loadtest.TestSpec{}, invalid(problems...)
	}
	return spec, spec.Validate()
}

func (s *Server) handleQuickStress(w http.ResponseWriter, r *http.Request, p principal) {
	s.start(w, r, p, func() (startRequest, error) {
		spec, err := quickStressSpec(r.URL.Query())
		return startRequest{spec: spec}, err
	})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request, p principal) {
	st, err := s.status(r.Context(), p.tenant.ID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// ResultResponse is the body of GET /load-test/{id}/result.
type ResultResponse struct {
	RunStatus
	// Spec is the test spec as started, secrets redacted.
	Spec json.RawMessage `json:"spec"`
	// Result is nil while the run is live, and for runs that produced none.
	Result   *loadtest.Result  `json:"result"`
	Findings []anomaly.Finding `json:"findings"`
	// Summary and Severity are the anomaly report's.
	Summary  string           `json:"summary,omitempty"`
	Severity anomaly.Severity `json:"severity"`
	// AIAnalysis is nil when no AI analysis ran.
	AIAnalysis *anomaly.AIAnalysis `json:"ai_analysis"`
}

func (s *Server) handleResult(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	run, err := s.st.Run(r.Context(), p.tenant.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := ResultResponse{RunStatus: statusOf(run), Spec: run.Spec, Result: run.Result, AIAnalysis: run.AI, Findings: []anomaly.Finding{}}
	if lr := s.liveRun(p.tenant.ID, id); lr != nil {
		resp.RunStatus = lr.status()
	}
	if run.Report != nil {
		resp.Summary, resp.Severity = run.Report.Summary, run.Report.Severity
		if run.Report.Findings != nil {
			resp.Findings = run.Report.Findings
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// ListResponse is the body of GET /load-test/list.
type ListResponse struct {
	Runs []RunStatus `json:"runs"`
	// NextCursor continues the list (?cursor=); empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// listFilter parses the list query, reporting every problem.
func listFilter(q url.Values) (store.Filter, error) {
	var f store.Filter
	var problems []string
	for k, v := range q {
		val := v[0]
		switch k {
		case "state":
			f.State = store.State(val)
			if !f.State.Valid() {
				problems = append(problems, fmt.Sprintf("state: unknown %q; want one of %v", val, store.States))
			}
		case "test_type":
			f.TestType = val
		case "name":
			f.Name = val
		case "since", "until":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: want an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", k, val))
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "limit":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > store.MaxLimit {
				problems = append(problems, fmt.Sprintf("limit: want 1 … %d, got %q", store.MaxLimit, val))
			}
			f.Limit = n
		case "cursor":
			f.Cursor = val
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown parameter; want state, test_type, name, since, until, limit, cursor", k))
		}
	}
	if len(problems) > 0 {
		return store.Filter{}, invalid(slices.Sorted(slices.Values(problems))...)
	}
	return f, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, p principal) {
	f, err := listFilter(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	runs, next, err := s.st.ListRuns(r.Context(), p.tenant.ID, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := ListResponse{Runs: make([]RunStatus, len(runs)), NextCursor: next}
	for i, run := range runs {
		resp.Runs[i] = statusOf(run)
		if !run.State.Final() {
			if lr := s.liveRun(p.tenant.ID, run.ID); lr != nil {
				resp.Runs[i] = lr.status()
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	lr := s.liveRun(p.tenant.ID, id)
	if lr == nil || lr.isFinal() {
		run, err := s.st.Summary(r.Context(), p.tenant.ID, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if lr == nil && !run.State.Final() { // live on another replica
			s.cancelRemote(w, r, p, run)
			return
		}
		s.writeError(w, r, fmt.Errorf("run %s is %s: %w", id, run.State, errNotLive))
		return
	}
	lr.cancel(errCancelled)
	s.audit(r.Context(), p, "cancel", id, "")
	writeJSON(w, http.StatusAccepted, lr.status())
}

// handleDelete deletes a finished run and what is stored with it, freeing
// the tenant's storage quota.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if err := s.st.DeleteRun(r.Context(), p.tenant.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "delete", id, "")
	w.WriteHeader(http.StatusNoContent)
}

// ScaleRequest is the body of POST /load-test/{id}/scale.
type ScaleRequest struct {
	// VUs is the new VU count, 0 … the scenario's maxVUs.
	VUs *int64 `json:"vus"`
	// Scenario names the externally-controlled scenario; it may be omitted
	// when the run has one.
	Scenario string `json:"scenario,omitempty"`
}

// ScaleResponse is the body of a 200 from scale.
type ScaleResponse struct {
	ID       string `json:"id"`
	Scenario string `json:"scenario"`
	VUs      int64  `json:"vus"`
}

func (s *Server) handleScale(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	body, ok := s.requestBody(w, r)
	if !ok {
		return
	}
	var req ScaleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.writeError(w, r, invalid("body: want {\"vus\": N, \"scenario\": NAME}: "+err.Error()))
		return
	}
	if req.VUs == nil {
		s.writeError(w, r, invalid("vus: required"))
		return
	}
	lr := s.liveRun(p.tenant.ID, id)
	if lr == nil {
		run, err := s.st.Summary(r.Context(), p.tenant.ID, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeError(w, r, fmt.Errorf("run %s is %s: %w", id, run.State, errNotLive))
		return
	}
	scenario, err := s.scale(lr, req.Scenario, *req.VUs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "scale", id, fmt.Sprintf("scenario %s to %d VUs", scenario, *req.VUs))
	writeJSON(w, http.StatusOK, ScaleResponse{ID: id, Scenario: scenario, VUs: *req.VUs})
}

func (s *Server) handleBaseline(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if err := s.st.SetBaseline(r.Context(), p.tenant.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "baseline", id, "")
	st, err := s.status(r.Context(), p.tenant.ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleReport(w http.ResponseWriter, r *http.Request, p principal) {
	run, err := s.st.Run(r.Context(), p.tenant.ID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if run.Result == nil {
		s.writeError(w, r, fmt.Errorf("run %s is %s: %w", run.ID, run.State, errNoResult))
		return
	}
	in := report.Input{Result: *run.Result, AI: run.AI}
	if run.Report != nil {
		in.Analysis = *run.Report
	}
	if in.History, err = s.reportHistory(r.Context(), run); err != nil {
		s.writeError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := s.cfg.RenderHTML(&buf, in); err != nil {
		s.writeError(w, r, fmt.Errorf("rendering the report of run %s: %w", run.ID, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

// AuditResponse is the body of GET /audit.
type AuditResponse struct {
	Events     []store.AuditEvent `json:"events"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			s.writeError(w, r, invalid(fmt.Sprintf("limit: want 1 … %d, got %q", store.MaxLimit, v)))
			return
		}
		limit = n
	}
	events, next, err := s.st.AuditLog(r.Context(), p.tenant.ID, limit, q.Get("cursor"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if events == nil {
		events = []store.AuditEvent{}
	}
	writeJSON(w, http.StatusOK, AuditResponse{Events: events, NextCursor: next})
}

// Health is the body of GET /healthz.
type Health struct {
	Status string `json:"status"` // "ok" or "unavailable"
	// RunningTests counts the tests this agent runs now.
	RunningTests int    `json:"running_tests"`
	Error        string `json:"error,omitempty"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n, closing := len(s.live), s.closing
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	switch err := s.st.Ping(ctx); {
	case err != nil:
		s.logger.Error("health: store", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", RunningTests: n, Error: "store unavailable"})
	case closing:
		writeJSON(w, http.StatusServiceUnavailable, Health{Status: "unavailable", RunningTests: n, Error: errShuttingDown.Error()})
	default:
		writeJSON(w, http.StatusOK, Health{Status: "ok", RunningTests: n})
	}
}

// handleEvents streams a run's progress as Server-Sent Events: a "status"
// event at once, a "progress" event every second, a "done" event with the
// final status at the end. A finished run gets its "done" event alone.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	var ch chan []byte
	var first []byte
	lr := s.liveRun(p.tenant.ID, id)
	if lr != nil {
		var ok bool
		if ch, first, ok = lr.subscribe(); !ok {
			first = lr.finalFrame()
		}
	}
	if first == nil {
		st, err := s.status(r.Context(), p.tenant.ID, id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if lr == nil && !st.State.Final() { // live on another replica
			s.eventsRemote(w, r, p, st)
			return
		}
		b, _ := json.Marshal(st)
		first = fmt.Appendf(nil, "event: done\ndata: %s\n\n", b)
	}
	if ch != nil {
		defer lr.unsubscribe(ch)
		s.metrics.subscribers.Inc()
		defer s.metrics.subscribers.Dec()
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(first); err != nil || ch == nil {
		_ = rc.Flush()
		return
	}
	_ = rc.Flush()
	sentDone := false
	for {
		select {
		case frame, ok := <-ch:
			if !ok {
				if !sentDone {
					// dropped as too slow, or ended with a full buffer
					if done := lr.finalFrame(); done != nil {
						_, _ = w.Write(done)
						_ = rc.Flush()
					}
				}
				return
			}
			sentDone = bytes.Contains(frame, []byte("\nevent: done\n"))
			if _, err := w.Write(frame); err != nil {
				return
			}
			_ = rc.Flush()
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		}
	}
}
