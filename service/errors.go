package service

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/store"
)

// Errors the handlers return; writeError maps them to statuses.
var (
	errUnauthorized   = errors.New("missing or invalid API key: send Authorization: Bearer KEY or X-API-Key: KEY")
	errTenantMismatch = errors.New("X-Tenant-ID does not name the API key's tenant")
	errShuttingDown   = errors.New("the agent is shutting down")
	errNotLive        = errors.New("the run is not running")
	errNoResult       = errors.New("the run has no result yet")
	errNoExternal     = errors.New("the run has no externally-controlled scenario")
)

// badRequest lists every problem of a request: 400.
type badRequest struct{ problems []string }

func (e *badRequest) Error() string { return strings.Join(e.problems, "; ") }

func invalid(problems ...string) error { return &badRequest{problems: problems} }

// LimitError is a request over one or more of its tenant's limits: 403, or
// 429 when the limit is on concurrent tests. The response names the limits.
type LimitError struct {
	// Limits names the limits exceeded: max_vus, max_duration,
	// max_concurrent, allowed_hosts.
	Limits []string
	// Problems says what exceeded them, one sentence each.
	Problems []string
}

func (e *LimitError) Error() string { return "over tenant limit: " + strings.Join(e.Problems, "; ") }

func (e *LimitError) status() int {
	if len(e.Limits) == 1 && e.Limits[0] == "max_concurrent" {
		return http.StatusTooManyRequests
	}
	return http.StatusForbidden
}

func (e *LimitError) add(limit, problem string) {
	if len(e.Limits) == 0 || e.Limits[len(e.Limits)-1] != limit {
		e.Limits = append(e.Limits, limit)
	}
	e.Problems = append(e.Problems, problem)
}

func (e *LimitError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// errorBody is every error response.
type errorBody struct {
	Errors []string `json:"errors"`
	Limits []string `json:"limits,omitempty"`
}

// writeError maps err to a status and writes it: the one place errors
// become statuses. 500s log the details and send none.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		bad   *badRequest
		limit *LimitError
	)
	status, body := http.StatusInternalServerError, errorBody{Errors: []string{"internal error"}}
	switch {
	case errors.As(err, &bad):
		status, body.Errors = http.StatusBadRequest, bad.problems
	case errors.As(err, &limit):
		status, body.Errors, body.Limits = limit.status(), limit.Problems, limit.Limits
	case errors.Is(err, loadtest.ErrInvalidPlan):
		status, body.Errors = http.StatusBadRequest, problems(err)
	case errors.Is(err, errUnauthorized):
		w.Header().Set("WWW-Authenticate", `Bearer realm="loadlens"`)
		status, body.Errors = http.StatusUnauthorized, []string{err.Error()}
	case errors.Is(err, errTenantMismatch):
		status, body.Errors = http.StatusForbidden, []string{err.Error()}
	case errors.Is(err, store.ErrNotFound):
		status, body.Errors = http.StatusNotFound, []string{"not found"}
	case errors.Is(err, store.ErrBadCursor):
		status, body.Errors = http.StatusBadRequest, []string{"cursor: invalid; use the next_cursor of a previous page"}
	case errors.Is(err, scenarios.ErrVUsOutOfRange):
		status, body.Errors = http.StatusBadRequest, []string{"vus: " + err.Error()}
	case errors.Is(err, store.ErrConflict), errors.Is(err, errNotLive), errors.Is(err, errNoResult),
		errors.Is(err, errNoExternal), errors.Is(err, scenarios.ErrNotRunning):
		status, body.Errors = http.StatusConflict, []string{err.Error()}
	case errors.Is(err, errShuttingDown):
		status, body.Errors = http.StatusServiceUnavailable, []string{err.Error()}
	default:
		s.logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, status, body)
}

// problems is one line per problem of an invalid plan.
func problems(err error) []string {
	ps := loadtest.ProblemsOf(err)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client went away; nothing to do
}
