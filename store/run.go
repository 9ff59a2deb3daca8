package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
)

// State is where a run is in its life.
type State string

// Run states. Queued and Running are live; the others are final.
const (
	Queued    State = "queued"
	Running   State = "running"
	Completed State = "completed" // the test ran to its end (thresholds may have failed)
	Failed    State = "failed"    // the test could not run or errored
	Cancelled State = "cancelled" // a user cancelled it
	// Interrupted: the agent stopped while the test ran (a graceful
	// shutdown keeps the partial result; a crash leaves none).
	Interrupted State = "interrupted"
)

// States lists every state, live ones first.
var States = []State{Queued, Running, Completed, Failed, Cancelled, Interrupted}

// Final reports whether the state is an end state (completed, failed,
// cancelled or interrupted).
func (s State) Final() bool { return s.Valid() && s != Queued && s != Running }

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Stats are a run's headline numbers, kept beside the Result so that status
// queries need not decode it.
type Stats struct {
	Requests    int64   `json:"requests"`
	RequestRate float64 `json:"request_rate"` // per second, over the run
	ErrorRate   float64 `json:"error_rate"`   // share of failed requests
	P95         float64 `json:"p95_ms"`       // http_req_duration p(95), ms
	Iterations  uint64  `json:"iterations"`
	VUs         int64   `json:"vus"` // VUs at the end
	VUsMax      int64   `json:"vus_max"`
	// Fraction is how far the run got, 0 … 1.
	Fraction float64 `json:"fraction"`
}

// Run is one test run of a tenant. Lists and summaries leave Spec, Result,
// Report and AI empty.
type Run struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	Name     string `json:"name"`
	TestType string `json:"test_type"`
	State    State  `json:"state"`
	// Actor is who started the run (a KeyID).
	Actor   string    `json:"actor,omitempty"`
	Created time.Time `json:"created"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Error says why a failed or interrupted run stopped.
	Error string `json:"error,omitempty"`
	// Status is the Result's status, once there is one.
	Status loadtest.Status `json:"status,omitempty"`
	// Baseline marks the run its test's baseline.
	Baseline bool  `json:"baseline,omitempty"`
	Stats    Stats `json:"stats"`
	// Schedule and Slot name the schedule and the slot that started the
	// run; empty for a run started by a request.
	Schedule string    `json:"schedule_id,omitempty"`
	Slot     time.Time `json:"slot,omitzero"`
	// BudgetStatus is what the test's budgets said of the run: "passed",
	// "breached", or "" when the test has none (see SetRunBudget).
	BudgetStatus string `json:"budget_status,omitempty"`
	// Replica names the agent that runs (or ran) the run.
	Replica string `json:"replica,omitempty"`

	// Spec is the test spec as started, secrets redacted.
	Spec   json.RawMessage     `json:"spec,omitempty"`
	Result *loadtest.Result    `json:"result,omitempty"`
	Report *anomaly.Report     `json:"report,omitempty"`
	AI     *anomaly.AIAnalysis `json:"ai,omitempty"`
}

// CreateRun records a new queued run of tenant and returns it with its ID
// and creation time, its first heartbeat. r's Name, TestType, Actor,
// Schedule, Slot, Replica and Spec are kept; the other fields are ignored. Spec must already be redacted.
func (s *Store) CreateRun(ctx context.Context, tenant string, r Run) (Run, error) {
	spec := r.Spec
	if len(spec) == 0 {
		spec = json.RawMessage("{}")
	}
	out := Run{ID: randomID("run-", 8), Tenant: tenant, Name: r.Name, TestType: r.TestType, State: Queued,
		Actor: r.Actor, Created: time.Now().UTC().Truncate(time.Microsecond), Spec: spec, Schedule: r.Schedule, Slot: r.Slot,
		Replica: r.Replica}
	err := s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, tenant, name, test_type, state, actor, created_ns, spec, schedule_id, slot_ns,
			replica, heartbeat_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, out.ID, tenant, out.Name, out.TestType, out.State, out.Actor,
			nanos(out.Created), string(spec), out.Schedule, nanos(out.Slot), out.Replica, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return Run{}, fmt.Errorf("store: create run: %w", err)
	}
	return out, nil
}

// SetRunning moves a queued run to running. It fails with ErrConflict when
// the run is not queued.
func (s *Store) SetRunning(ctx context.Context, tenant, id string, started time.Time) error {
	return s.update(ctx, tenant, id, "set running", `UPDATE runs SET state = ?, started_ns = ? WHERE tenant = ? AND id = ? AND state = ?`,
		Running, nanos(started), tenant, id, Queued)
}

// Finish is how a run ended.
type Finish struct {
	State  State
	Ended  time.Time
	Error  string
	Stats  Stats
	Result *loadtest.Result // nil when the run produced none
}

// Finish records the end of a live run. It fails with ErrConflict when the
// run has already finished (for instance, marked interrupted).
func (s *Store) Finish(ctx context.Context, tenant, id string, f Finish) error {
	if !f.State.Final() || !f.State.Valid() {
		return fmt.Errorf("store: finish run %s: state %q is not final", id, f.State)
	}
	stats, err := json.Marshal(f.Stats)
	if err != nil {
		return fmt.Errorf("store: finish run %s: stats: %w", id, err)
	}
	var result any
	var status loadtest.Status
	if f.Result != nil {
		b, err := json.Marshal(f.Result)
		if err != nil {
			return fmt.Errorf("store: finish run %s: result: %w", id, err)
		}
		result, status = string(b), f.Result.Status
	}
	return s.update(ctx, tenant, id, "finish", `UPDATE runs SET state = ?, ended_ns = ?, error = ?, stats = ?, result = ?, status = ?
		WHERE tenant = ? AND id = ? AND state IN (?, ?)`,
		f.State, nanos(f.Ended), f.Error, string(stats), result, string(status), tenant, id, Queued, Running)
}

// SetAnalysis stores a finished run's anomaly report and AI analysis (nil
// for none).
func (s *Store) SetAnalysis(ctx context.Context, tenant, id string, rep *anomaly.Report, ai *anomaly.AIAnalysis) error {
	enc := func(v any, isNil bool) (any, error) {
		if isNil {
			return nil, nil
		}
		b, err := json.Marshal(v)
		return string(b), err
	}
	repJSON, err := enc(rep, rep == nil)
	if err != nil {
		return fmt.Errorf("store: analysis of run %s: report: %w", id, err)
	}
	aiJSON, err := enc(ai, ai == nil)
	if err != nil {
		return fmt.Errorf("store: analysis of run %s: ai: %w", id, err)
	}
	return s.update(ctx, tenant, id, "set analysis", `UPDATE runs SET report = ?, ai = ? WHERE tenant = ? AND id = ?`,
		repJSON, aiJSON, tenant, id)
}

// SetBaseline makes a completed run with a result the baseline of its test
// (same name and test type), replacing the previous baseline. It fails with
// ErrConflict for a run that did not complete.
func (s *Store) SetBaseline(ctx context.Context, tenant, id string) error {
	err := s.tx(ctx, func(tx *txn) error {
		var name, typ string
		var state State
		var hasResult bool
		err := tx.QueryRowContext(ctx, `SELECT name, test_type, state, result IS NOT NULL FROM runs WHERE tenant = ? AND id = ?`,
			tenant, id).Scan(&name, &typ, &state, &hasResult)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("run %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state != Completed || !hasResult {
			return fmt.Errorf("run %s is %s: only a completed run can be a baseline: %w", id, state, ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET baseline = 0 WHERE tenant = ? AND name = ? AND test_type = ? AND baseline = 1`,
			tenant, name, typ); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET baseline = 1 WHERE tenant = ? AND id = ?`, tenant, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set baseline: %w", err)
	}
	return nil
}

// update runs one UPDATE of one run; no row changed means ErrNotFound when
// the run does not exist for tenant, else ErrConflict.
func (s *Store) update(ctx context.Context, tenant, id, what, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s of run %s: %w", what, id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var state State
	err = s.w.QueryRowContext(ctx, "SELECT state FROM runs WHERE tenant = ? AND id = ?", tenant, id).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %s of run %s: %w", what, id, err)
	}
	return fmt.Errorf("store: %s of run %s: run is %s: %w", what, id, state, ErrConflict)
}

const summaryCols = `seq, id, tenant, name, test_type, state, actor, created_ns, started_ns, ended_ns, error, status, baseline, stats,
	schedule_id, slot_ns, budget_status, replica`

type scanner interface{ Scan(dest ...any) error }

func scanSummary(sc scanner, extra ...any) (Run, int64, error) {
	var (
		r                       Run
		seq                     int64
		created, started, ended int64
		status, stats           string
		slot                    int64
	)
	dest := append([]any{&seq, &r.ID, &r.Tenant, &r.Name, &r.TestType, &r.State, &r.Actor, &created, &started, &ended,
		&r.Error, &status, &r.Baseline, &stats, &r.Schedule, &slot, &r.BudgetStatus, &r.Replica}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return Run{}, 0, err
	}
	r.Created, r.Started, r.Ended, r.Slot = fromNanos(created), fromNanos(started), fromNanos(ended), fromNanos(slot)
	r.Status = loadtest.Status(status)
	if err := json.Unmarshal([]byte(stats), &r.Stats); err != nil {
		return Run{}, 0, fmt.Errorf("stats: %w", err)
	}
	return r, seq, nil
}

// Summary returns a run of tenant without its spec, result and analysis,
// or ErrNotFound.
func (s *Store) Summary(ctx context.Context, tenant, id string) (Run, error) {
	r, _, err := scanSummary(s.r.QueryRowContext(ctx, "SELECT "+summaryCols+" FROM runs WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("store: run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: run %s: %w", id, err)
	}
	return r, nil
}

// Run returns a run of tenant with everything stored about it, or
// ErrNotFound.
func (s *Store) Run(ctx context.Context, tenant, id string) (Run, error) {
	var spec string
	var result, report, ai sql.NullString
	r, _, err := scanSummary(s.r.QueryRowContext(ctx, "SELECT "+summaryCols+", spec, result, report, ai FROM runs WHERE tenant = ? AND id = ?",
		tenant, id), &spec, &result, &report, &ai)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("store: run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: run %s: %w", id, err)
	}
	r.Spec = json.RawMessage(spec)
	if err := decodeRunData(&r, result, report, ai); err != nil {
		return Run{}, fmt.Errorf("store: run %s: %w", id, err)
	}
	return r, nil
}

func decodeRunData(r *Run, result, report, ai sql.NullString) error {
	if result.Valid {
		r.Result = new(loadtest.Result)
		if err := json.Unmarshal([]byte(result.String), r.Result); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	if report.Valid {
		r.Report = new(anomaly.Report)
		if err := json.Unmarshal([]byte(report.String), r.Report); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if ai.Valid {
		r.AI = new(anomaly.AIAnalysis)
		if err := json.Unmarshal([]byte(ai.String), r.AI); err != nil {
			return fmt.Errorf("ai: %w", err)
		}
	}
	return nil
}

// Filter selects runs to list. The zero value lists all runs, newest
// first, DefaultLimit at a time.
type Filter struct {
	State    State
	TestType string
	Name     string
	// Since and Until bound the creation time: Since <= created < Until.
	Since, Until time.Time
	// Limit is the page size: 0 means DefaultLimit, at most MaxLimit.
	Limit int
	// Cursor continues a listing: the Next of the previous page.
	Cursor string
}

// Page sizes of ListRuns.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// ErrBadCursor: a Filter.Cursor that no ListRuns returned.
var ErrBadCursor = errors.New("invalid cursor")

// ListRuns lists tenant's runs matching f, newest first, without their
// spec, result and analysis. next is the cursor of the following page, ""
// after the last.
func (s *Store) ListRuns(ctx context.Context, tenant string, f Filter) (runs []Run, next string, err error) {
	where := []string{"tenant = ?"}
	args := []any{tenant}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, f.State)
	}
	if f.TestType != "" {
		where, args = append(where, "test_type = ?"), append(args, f.TestType)
	}
	if f.Name != "" {
		where, args = append(where, "name = ?"), append(args, f.Name)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_ns >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_ns < ?"), append(args, f.Until.UnixNano())
	}
	if f.Cursor != "" {
		seq, err := strconv.ParseInt(f.Cursor, 36, 64)
		if err != nil || seq <= 0 {
			return nil, "", fmt.Errorf("store: list runs: cursor %q: %w", f.Cursor, ErrBadCursor)
		}
		where, args = append(where, "seq < ?"), append(args, seq)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, "SELECT "+summaryCols+" FROM runs WHERE "+strings.Join(where, " AND ")+
		" ORDER BY seq DESC LIMIT ?", args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	defer rows.Close()
	var lastSeq int64
	for rows.Next() {
		r, seq, err := scanSummary(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list runs: %w", err)
		}
		if len(runs) == limit {
			next = strconv.FormatInt(lastSeq, 36)
			break
		}
		runs, lastSeq = append(runs, r), seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list runs: %w", err)
	}
	return runs, next, nil
}

// History returns the results of tenant's completed runs of the same test
// (name and test type) created before the run before, oldest first, at
// most limit of them (the latest ones; 0 means 20). They are what
// anomaly.Analyze compares a run with.
func (s *Store) History(ctx context.Context, tenant, name, testType, before string, limit int) ([]loadtest.Result, error) {
	runs, err := s.history(ctx, tenant, name, testType, before, limit, true)
	if err != nil {
		return nil, err
	}
	out := make([]loadtest.Result, len(runs))
	for i, r := range runs {
		out[i] = *r.Result
	}
	return out, nil
}

// HistoryRuns is History with each run's summary beside its result (no
// spec, analysis or AI), the result without its Timeline, which a long
// trend does not need and would make big: the runs of a test's trend and
// of a report's history section. testType "" takes the runs of every
// test type; before "" the latest runs.
func (s *Store) HistoryRuns(ctx context.Context, tenant, name, testType, before string, limit int) ([]Run, error) {
	return s.history(ctx, tenant, name, testType, before, limit, false)
}

func (s *Store) history(ctx context.Context, tenant, name, testType, before string, limit int, timeline bool) ([]Run, error) {
	if limit <= 0 {
		limit = 20
	}
	var beforeSeq int64 = 1<<63 - 1
	if before != "" {
		err := s.r.QueryRowContext(ctx, "SELECT seq FROM runs WHERE tenant = ? AND id = ?", tenant, before).Scan(&beforeSeq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("store: history: run %s: %w", before, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+summaryCols+`, result FROM runs WHERE tenant = ? AND name = ?
		AND (test_type = ? OR ? = '') AND seq < ? AND state = ? AND result IS NOT NULL ORDER BY seq DESC LIMIT ?`,
		tenant, name, testType, testType, beforeSeq, Completed, limit)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var result string
		r, _, err := scanSummary(rows, &result)
		if err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		r.Result = new(loadtest.Result)
		if err := json.Unmarshal([]byte(result), r.Result); err != nil {
			return nil, fmt.Errorf("store: history: run %s: %w", r.ID, err)
		}
		if !timeline {
			r.Result.Timeline = loadtest.Timeline{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// Baseline returns the baseline of the test of run id: the run marked with
// SetBaseline for the same name and test type; else, among the completed
// runs of the test created before it, the latest that passed, or failing
// that the latest whose thresholds failed or that was marked failed (the
// rule of report.Baseline). It fails with ErrNotFound when there is none
// (or no run id).
func (s *Store) Baseline(ctx context.Context, tenant, id string) (Run, error) {
	var name, typ string
	var seq int64
	err := s.r.QueryRowContext(ctx, "SELECT name, test_type, seq FROM runs WHERE tenant = ? AND id = ?", tenant, id).Scan(&name, &typ, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("store: run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: baseline: %w", err)
	}
	var base string
	err = s.r.QueryRowContext(ctx, `SELECT id FROM runs WHERE tenant = ? AND name = ? AND test_type = ? AND result IS NOT NULL
		AND state = ? AND id != ? AND (baseline = 1 OR (seq < ? AND status IN (?, ?, ?)))
		ORDER BY baseline DESC, CASE WHEN status = ? THEN 1 ELSE 0 END DESC, seq DESC LIMIT 1`,
		tenant, name, typ, Completed, id, seq, loadtest.StatusPassed, loadtest.StatusThresholdsFailed, loadtest.StatusMarkedFailed,
		loadtest.StatusPassed).Scan(&base)
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("store: baseline of run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Run{}, fmt.Errorf("store: baseline: %w", err)
	}
	return s.Run(ctx, tenant, base)
}

// RecoverInterrupted marks every queued or running run, of every tenant,
// interrupted at the given time, and returns them. The agent calls it when
// it starts: a run still live in the database was cut off by a crash.
func (s *Store) RecoverInterrupted(ctx context.Context, at time.Time, reason string) ([]Run, error) {
	rows, err := s.w.QueryContext(ctx, `UPDATE runs SET state = ?, ended_ns = ?, error = ? WHERE state IN (?, ?)
		RETURNING `+summaryCols, Interrupted, nanos(at), reason, Queued, Running)
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, _, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("store: recover: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	return out, nil
}

// CountByState counts the runs of every tenant by state.
func (s *Store) CountByState(ctx context.Context) (map[State]int, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT state, count(*) FROM runs GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("store: count runs: %w", err)
	}
	defer rows.Close()
	out := map[State]int{}
	for rows.Next() {
		var st State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: count runs: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count runs: %w", err)
	}
	return out, nil
}

// StoredBytes returns how much the tenant's runs take in the database:
// their specs, results, reports and AI analyses, in characters of their
// JSON. The agent's storage quota is checked against it.
func (s *Store) StoredBytes(ctx context.Context, tenant string) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(LENGTH(spec) + COALESCE(LENGTH(result), 0) + COALESCE(LENGTH(report), 0)
		+ COALESCE(LENGTH(ai), 0) + COALESCE(LENGTH(budget), 0)), 0) FROM runs WHERE tenant = ?`, tenant).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: stored bytes of %q: %w", tenant, err)
	}
	return n, nil
}

// DeleteRun deletes a finished run of tenant with everything stored with
// it; the audit log keeps its entries. It fails with ErrNotFound for
// another tenant's or a missing run, and ErrConflict for a run that is
// still queued or running.
func (s *Store) DeleteRun(ctx context.Context, tenant, id string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM runs WHERE tenant = ? AND id = ? AND state NOT IN (?, ?)", tenant, id, Queued, Running)
	if err != nil {
		return fmt.Errorf("store: delete run %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	if _, err := s.Summary(ctx, tenant, id); err != nil {
		return err
	}
	return fmt.Errorf("store: delete run %s: it is still live: %w", id, ErrConflict)
}
