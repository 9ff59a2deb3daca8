package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/store"
)

// Budgets are a test's performance budgets, checked at the end of each of
// its runs (scheduled ones included): the body of PUT /budgets/{test} and
// the file of `loadlens run --budget`. Expressions use k6's threshold
// grammar.
//
//	{"thresholds": {"http_req_duration": ["p(95)<300"], "http_req_failed": ["rate<0.01"]},
//	 "baseline": {"http_reqs": ["rate>=0.9"]},
//	 "no_findings": "high"}
type Budgets struct {
	// Thresholds bound a metric's aggregation absolutely, as k6
	// thresholds do: "p(95)<300" (ms), "rate<0.01".
	Thresholds map[string][]string `json:"thresholds,omitempty"`
	// Baseline bounds an aggregation relative to the same aggregation of
	// the test's baseline run: "rate>=0.9" is at least 0.9 × the
	// baseline's rate. Without a baseline they are not checked.
	Baseline map[string][]string `json:"baseline,omitempty"`
	// NoFindings is the severity (medium, high, critical) from which any
	// finding of the run's analysis breaches the budget; "" for none.
	NoFindings string `json:"no_findings,omitempty"`
}

// Budget check outcomes.
const (
	BudgetPassed   = "passed"
	BudgetBreached = "breached"
)

// BudgetCheck is what a run's budgets said: a status on the run, and each
// budget's verdict.
type BudgetCheck struct {
	// Status is BudgetPassed or BudgetBreached.
	Status  string         `json:"status"`
	Results []BudgetResult `json:"results"`
	// Baseline is the run the baseline budgets compared with, if any.
	Baseline string `json:"baseline,omitempty"`
}

// BudgetResult is one budget's verdict.
type BudgetResult struct {
	// Budget says it: "http_req_duration: p(95)<300",
	// "http_reqs: rate>=0.9 × baseline", "no finding of high severity or more".
	Budget string `json:"budget"`
	// Observed is the run's value, Limit the bound it was held to (for a
	// baseline budget, the ratio times the baseline's value).
	Observed *float64 `json:"observed,omitempty"`
	Limit    *float64 `json:"limit,omitempty"`
	Passed   bool     `json:"passed"`
	// Skipped says why the budget was not checked (no baseline, no data);
	// a skipped budget does not breach.
	Skipped string `json:"skipped,omitempty"`
}

// Breaches lists the budgets a check found breached.
func (c BudgetCheck) Breaches() []string {
	var out []string
	for _, r := range c.Results {
		if !r.Passed && r.Skipped == "" {
			out = append(out, r.Budget)
		}
	}
	return out
}

// ParseBudgets decodes budgets strictly and reports every problem at once,
// each by its JSON path.
func ParseBudgets(b []byte) (Budgets, error) {
	var bs Budgets
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&bs); err != nil {
		return Budgets{}, loadtest.Problems{{Path: "body", Message: "want budgets {\"thresholds\", \"baseline\", \"no_findings\"}: " + err.Error(), Err: err}}
	}
	var bad loadtest.Problems
	for _, set := range []struct {
		field string
		m     map[string][]string
	}{{"thresholds", bs.Thresholds}, {"baseline", bs.Baseline}} {
		for _, metric := range slices.Sorted(maps.Keys(set.m)) {
			if strings.TrimSpace(metric) == "" {
				bad = append(bad, loadtest.Problem{Path: set.field, Message: "a metric name is empty"})
			}
			for i, expr := range set.m[metric] {
				th, err := metrics.ParseThreshold(expr)
				switch {
				case err != nil:
					bad = append(bad, loadtest.Problem{Path: fmt.Sprintf("%s.%s[%d]", set.field, metric, i), Message: err.Error(), Err: err})
				case set.field == "baseline" && !(th.Bound > 0):
					bad = append(bad, loadtest.Problem{Path: fmt.Sprintf("%s.%s[%d]", set.field, metric, i),
						Message: fmt.Sprintf("the ratio to the baseline must be > 0, got %g", th.Bound)})
				}
			}
		}
	}
	if bs.NoFindings != "" {
		var sev anomaly.Severity
		if err := sev.UnmarshalText([]byte(bs.NoFindings)); err != nil || sev < anomaly.SeverityInfo {
			bad = append(bad, loadtest.Problem{Path: "no_findings", Message: fmt.Sprintf("want info, low, medium, high or critical, got %q", bs.NoFindings)})
		}
	}
	if len(bs.Thresholds) == 0 && len(bs.Baseline) == 0 && bs.NoFindings == "" && len(bad) == 0 {
		bad = append(bad, loadtest.Problem{Path: "budgets", Message: "none given; want thresholds, baseline or no_findings"})
	}
	if len(bad) > 0 {
		return Budgets{}, bad
	}
	return bs, nil
}

// Check holds a run's result, its analysis (nil: none) and its baseline's
// result (nil: none) to the budgets. Budgets must come from ParseBudgets.
func (bs Budgets) Check(res loadtest.Result, rep *anomaly.Report, baseline *loadtest.Result) BudgetCheck {
	c := BudgetCheck{Status: BudgetPassed, Results: []BudgetResult{}}
	value := func(r loadtest.Result, metric string, agg metrics.Aggregation) (float64, bool) {
		v, ok := r.Metrics[metric].Values[agg.String()]
		return v, ok && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	for _, metric := range slices.Sorted(maps.Keys(bs.Thresholds)) {
		for _, expr := range bs.Thresholds[metric] {
			th, err := metrics.ParseThreshold(expr)
			if err != nil {
				continue // ParseBudgets refused it
			}
			r := BudgetResult{Budget: metric + ": " + th.String()}
			if v, ok := value(res, metric, th.Aggregation); ok {
				r.Observed, r.Limit, r.Passed = &v, &th.Bound, th.Operator.Holds(v, th.Bound)
			} else {
				r.Skipped = "the run has no " + metric + " " + th.Aggregation.String()
			}
			c.Results = append(c.Results, r)
		}
	}
	for _, metric := range slices.Sorted(maps.Keys(bs.Baseline)) {
		for _, expr := range bs.Baseline[metric] {
			th, err := metrics.ParseThreshold(expr)
			if err != nil {
				continue
			}
			r := BudgetResult{Budget: fmt.Sprintf("%s: %s%s%g × baseline", metric, th.Aggregation, th.Operator, th.Bound)}
			v, ok := value(res, metric, th.Aggregation)
			var bv float64
			var bok bool
			if baseline != nil {
				bv, bok = value(*baseline, metric, th.Aggregation)
			}
			switch {
			case baseline == nil:
				r.Skipped = "the test has no baseline yet"
			case !ok || !bok:
				r.Skipped = "the run or its baseline has no " + metric + " " + th.Aggregation.String()
			default:
				limit := th.Bound * bv
				r.Observed, r.Limit, r.Passed = &v, &limit, th.Operator.Holds(v, limit)
			}
			c.Results = append(c.Results, r)
		}
	}
	if bs.NoFindings != "" {
		var sev anomaly.Severity
		_ = sev.UnmarshalText([]byte(bs.NoFindings)) // ParseBudgets checked it
		r := BudgetResult{Budget: "no finding of " + sev.String() + " severity or more", Passed: true}
		if rep == nil {
			r.Skipped = "the run was not analysed"
		} else {
			n := 0
			for _, f := range rep.Findings {
				if f.Severity >= sev {
					n++
				}
			}
			found := float64(n)
			r.Observed, r.Passed = &found, n == 0
		}
		c.Results = append(c.Results, r)
	}
	if len(c.Breaches()) > 0 {
		c.Status = BudgetBreached
	}
	return c
}

// checkBudgets holds a finished run to its test's budgets, if it has any,
// against the test's baseline (the store's rule), and records the check on
// the run. breaches lists the budgets breached when the breach is new (the
// test's previous check passed): a breach alerts once.
func (s *Server) checkBudgets(logger *slog.Logger, r *liveRun, res loadtest.Result, rep *anomaly.Report) (check *BudgetCheck, breaches []string) {
	ctx, cancel := context.WithTimeout(s.bgCtx, 30*time.Second)
	defer cancel()
	raw, err := s.st.Budgets(ctx, r.tenant, r.name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	var bs Budgets
	if err == nil {
		bs, err = ParseBudgets(raw)
	}
	if err != nil {
		logger.Error("reading the test's budgets", "error", err)
		return nil, nil
	}
	var base *loadtest.Result
	b, err := s.st.Baseline(ctx, r.tenant, r.id)
	switch {
	case err == nil:
		base = b.Result
	case !errors.Is(err, store.ErrNotFound):
		logger.Error("reading the test's baseline", "error", err)
	}
	c := bs.Check(res, rep, base)
	if base != nil {
		c.Baseline = b.ID
	}
	data, _ := json.Marshal(c) // plain data: cannot fail
	if err := s.st.SetRunBudget(ctx, r.tenant, r.id, c.Status, data); err != nil {
		logger.Error("recording the budget check", "error", err)
	}
	changed, err := s.st.MarkBreached(ctx, r.tenant, r.name, c.Status == BudgetBreached)
	if err != nil {
		logger.Error("recording the budget check", "error", err)
	}
	if c.Status == BudgetBreached {
		logger.Warn("budgets breached", "budgets", c.Breaches(), "new", changed)
		if changed {
			breaches = c.Breaches()
		}
	}
	return &c, breaches
}

// BudgetsResponse is the body of GET and PUT /budgets/{test}.
type BudgetsResponse struct {
	Test    string  `json:"test"`
	Budgets Budgets `json:"budgets"`
}

// BudgetHistory is the body of GET /budgets/{test}/history: the test's
// runs whose budgets were checked, newest first.
type BudgetHistory struct {
	Test string             `json:"test"`
	Runs []BudgetHistoryRun `json:"runs"`
}

// BudgetHistoryRun is one run of a budget history.
type BudgetHistoryRun struct {
	Run   RunStatus   `json:"run"`
	Check BudgetCheck `json:"check"`
}

func (s *Server) handlePutBudgets(w http.ResponseWriter, r *http.Request, p principal) {
	test := r.PathValue("test")
	body, ok := s.requestBody(w, r)
	if !ok {
		return
	}
	bs, err := ParseBudgets(body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data, _ := json.Marshal(bs) // plain data: cannot fail
	if err := s.st.SetBudgets(r.Context(), p.tenant.ID, test, data); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "budgets", "", fmt.Sprintf("set the budgets of test %q", test))
	writeJSON(w, http.StatusOK, BudgetsResponse{Test: test, Budgets: bs})
}

func (s *Server) handleGetBudgets(w http.ResponseWriter, r *http.Request, p principal) {
	test := r.PathValue("test")
	raw, err := s.st.Budgets(r.Context(), p.tenant.ID, test)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var bs Budgets
	if err := json.Unmarshal(raw, &bs); err != nil {
		s.writeError(w, r, fmt.Errorf("budgets of test %q: %w", test, err))
		return
	}
	writeJSON(w, http.StatusOK, BudgetsResponse{Test: test, Budgets: bs})
}

func (s *Server) handleDeleteBudgets(w http.ResponseWriter, r *http.Request, p principal) {
	test := r.PathValue("test")
	if err := s.st.RemoveBudgets(r.Context(), p.tenant.ID, test); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "budgets", "", fmt.Sprintf("removed the budgets of test %q", test))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleBudgetHistory(w http.ResponseWriter, r *http.Request, p principal) {
	test := r.PathValue("test")
	limit := 0
	for k, v := range r.URL.Query() {
		n, err := strconv.Atoi(v[0])
		if k != "limit" || err != nil || n < 1 || n > store.MaxLimit {
			s.writeError(w, r, invalid(fmt.Sprintf("%s: want limit=1 … %d, got %q", k, store.MaxLimit, v[0])))
			return
		}
		limit = n
	}
	entries, err := s.st.BudgetHistory(r.Context(), p.tenant.ID, test, limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := BudgetHistory{Test: test, Runs: make([]BudgetHistoryRun, len(entries))}
	for i, e := range entries {
		out.Runs[i].Run = statusOf(e.Run)
		if err := json.Unmarshal(e.Check, &out.Runs[i].Check); err != nil {
			s.writeError(w, r, fmt.Errorf("budget check of run %s: %w", e.ID, err))
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}
