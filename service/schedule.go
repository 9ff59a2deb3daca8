package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// Bounds of a schedule's timing.
const (
	// MinScheduleInterval is the shortest interval, and the closest two
	// slots of a cron expression should be: a minute, cron's resolution.
	MinScheduleInterval = time.Minute
	// MaxScheduleJitter bounds a schedule's jitter.
	MaxScheduleJitter = time.Hour
)

// cronParser reads standard 5-field cron expressions and descriptors
// (@daily, @every 1h30m), with an optional CRON_TZ= prefix; robfig/cron's
// parser is the widely used one, and handles time zones and DST.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ScheduleRequest is the body of POST /schedules and PUT /schedules/{id}:
// a recurring test. Either Cron or Interval is required.
type ScheduleRequest struct {
	// Name says what the schedule is for ("nightly soak").
	Name string `json:"name"`
	// Cron is a cron expression: 5 fields (minute hour day-of-month month
	// day-of-week) or a descriptor (@hourly, @daily, @weekly…), read in
	// Timezone (an IANA name such as "Europe/Paris"; default UTC).
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	// Interval runs the test every so often ("15m", at least 1m), counted
	// from the schedule's creation.
	Interval *duration.Duration `json:"interval,omitempty"`
	// Jitter delays each run by up to this much (at most 1h), so that
	// schedules on the same minute do not all start at once.
	Jitter *duration.Duration `json:"jitter,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// Missed says what happens to slots that passed while no agent ran:
	// "run_once" (default) runs the latest one once, "skip" skips them.
	Missed string `json:"missed,omitempty"`
	// Test is the body POST /load-test/start takes (a JSON spec; a script
	// inline, as uploads are not kept).
	Test json.RawMessage `json:"test"`
}

// ScheduleInfo is a schedule as the API shows it: GET /schedules/{id}, and
// the body of a 201 from POST /schedules.
type ScheduleInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Interval string `json:"interval,omitempty"`
	Jitter   string `json:"jitter,omitempty"`
	Enabled  bool   `json:"enabled"`
	Missed   string `json:"missed"`
	// Test is the test spec, secrets redacted.
	Test    json.RawMessage `json:"test"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	// NextSlot is the next slot; NextRun when it starts (with jitter).
	NextSlot time.Time `json:"next_slot,omitzero"`
	NextRun  time.Time `json:"next_run,omitzero"`
	// LastSlot is the latest slot claimed; LastRun the run it started, or
	// LastError why it started none.
	LastSlot  time.Time `json:"last_slot,omitzero"`
	LastRun   string    `json:"last_run,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// ScheduleList is the body of GET /schedules.
type ScheduleList struct {
	Schedules []ScheduleInfo `json:"schedules"`
}

// ShowSchedule is a schedule as the API shows it, its test redacted.
func ShowSchedule(sc store.Schedule) ScheduleInfo {
	info := ScheduleInfo{ID: sc.ID, Name: sc.Name, Cron: sc.Cron, Timezone: sc.Timezone, Enabled: sc.Enabled, Missed: sc.Missed,
		Test: redactRaw(sc.Spec), Created: sc.Created, Updated: sc.Updated, LastSlot: sc.LastSlot, LastRun: sc.LastRun,
		LastError: sc.LastError}
	if sc.Interval > 0 {
		info.Interval = duration.Format(sc.Interval)
	}
	if sc.Jitter > 0 {
		info.Jitter = duration.Format(sc.Jitter)
	}
	if sc.Enabled {
		info.NextSlot, info.NextRun = sc.Next, sc.Due
	}
	return info
}

// redactRaw is redactSpec for a stored spec.
func redactRaw(raw json.RawMessage) json.RawMessage {
	spec, err := loadtest.DecodeTestSpec(raw)
	if err != nil && spec.TestType == "" {
		return json.RawMessage("{}")
	}
	return redactSpec(spec)
}

// timing is when a schedule's slots fall: a cron schedule, or an interval
// counted from an anchor.
type timing interface {
	// Next returns the first slot after t.
	Next(t time.Time) time.Time
}

type every struct {
	anchor time.Time
	step   time.Duration
}

func (e every) Next(t time.Time) time.Time {
	if t.Before(e.anchor) {
		return e.anchor
	}
	return e.anchor.Add((t.Sub(e.anchor)/e.step + 1) * e.step)
}

// timingOf returns a stored schedule's timing.
func timingOf(sc store.Schedule) (timing, error) {
	if sc.Interval > 0 {
		return every{anchor: sc.Created, step: sc.Interval}, nil
	}
	expr := sc.Cron
	if sc.Timezone != "" {
		expr = "CRON_TZ=" + sc.Timezone + " " + expr
	}
	return cronParser.Parse(expr)
}

// jitterOf is how long a slot's run waits after the slot: the same on
// every replica, spread over [0, max).
func jitterOf(id string, slot time.Time, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s/%d", id, slot.UnixNano()))
	return time.Duration(binary.BigEndian.Uint64(h[:8]) % uint64(max))
}

// readSchedule reads a tenant's schedule request (ParseSchedule) and
// checks its test against the tenant's limits when it has no script (a
// script's options are only known by running its init code, which waits
// for the first run, as a start's does).
func (s *Server) readSchedule(ctx context.Context, p principal, body []byte) (store.Schedule, error) {
	sc, err := ParseSchedule(body)
	if err != nil {
		return store.Schedule{}, err
	}
	spec, err := loadtest.DecodeTestSpec(sc.Spec)
	if err != nil {
		return store.Schedule{}, err
	}
	if !spec.HasScript() {
		prep, err := s.prepare(ctx, p, startRequest{spec: spec})
		if err != nil {
			return store.Schedule{}, err
		}
		prep.discard()
	}
	return sc, nil
}

// ParseSchedule decodes a ScheduleRequest (JSON, unknown fields refused)
// into a schedule's definition, reporting every problem at once, each by
// its JSON path. It does not check the test against a tenant's limits.
func ParseSchedule(body []byte) (store.Schedule, error) {
	var req ScheduleRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return store.Schedule{}, invalid("body: want a schedule {\"name\", \"cron\" or \"interval\", \"test\", …}: " + err.Error())
	}
	var bad []string
	sc := store.Schedule{Name: strings.TrimSpace(req.Name), Cron: strings.TrimSpace(req.Cron), Timezone: req.Timezone,
		Enabled: req.Enabled == nil || *req.Enabled, Missed: req.Missed, Spec: req.Test}
	if sc.Name == "" || utf8.RuneCountInString(sc.Name) > 128 || strings.ContainsRune(sc.Name, 0) {
		bad = append(bad, fmt.Sprintf("name: want 1-128 characters, got %q", req.Name))
	}
	if req.Interval != nil {
		sc.Interval = time.Duration(*req.Interval)
	}
	switch {
	case sc.Cron == "" && req.Interval == nil:
		bad = append(bad, "cron: required, or interval")
	case sc.Cron != "" && req.Interval != nil:
		bad = append(bad, "interval: give cron or interval, not both")
	case req.Interval != nil:
		if sc.Interval < MinScheduleInterval {
			bad = append(bad, fmt.Sprintf("interval: must be >= %s, got %s", MinScheduleInterval, sc.Interval))
		}
		if sc.Timezone != "" {
			bad = append(bad, "timezone: goes with cron; an interval has none")
		}
	default:
		bad = append(bad, checkCron(sc.Cron, sc.Timezone)...)
	}
	if req.Jitter != nil {
		sc.Jitter = time.Duration(*req.Jitter)
		if sc.Jitter < 0 || sc.Jitter > MaxScheduleJitter {
			bad = append(bad, fmt.Sprintf("jitter: must be 0 … %s, got %s", MaxScheduleJitter, sc.Jitter))
		}
	}
	switch sc.Missed {
	case "":
		sc.Missed = store.MissedRunOnce
	case store.MissedRunOnce, store.MissedSkip:
	default:
		bad = append(bad, fmt.Sprintf("missed: want %s or %s, got %q", store.MissedRunOnce, store.MissedSkip, req.Missed))
	}
	if len(bytes.TrimSpace(req.Test)) == 0 || string(bytes.TrimSpace(req.Test)) == "null" {
		bad = append(bad, "test: required: the test spec POST /load-test/start takes")
	} else if spec, err := loadtest.DecodeTestSpec(req.Test); err != nil {
		for _, pr := range problems(err) {
			bad = append(bad, "test: "+pr)
		}
	} else if spec.ScriptFile != "" {
		bad = append(bad, "test.script_file: a schedule keeps no uploaded files; give the script inline in test.script")
	}
	if len(bad) > 0 {
		return store.Schedule{}, invalid(bad...)
	}
	return sc, nil
}

// checkCron reports what is wrong with a cron expression and its time
// zone.
func checkCron(expr, tz string) []string {
	var problems []string
	if strings.Contains(expr, "TZ=") {
		problems = append(problems, "cron: give the time zone in timezone, not in the expression")
	}
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil || strings.ContainsAny(tz, " \t") {
			problems = append(problems, fmt.Sprintf("timezone: want an IANA time zone such as Europe/Paris, got %q", tz))
		}
	}
	if len(problems) > 0 {
		return problems
	}
	if tz != "" {
		expr = "CRON_TZ=" + tz + " " + expr
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return []string{fmt.Sprintf("cron: %v", err)}
	}
	if d, ok := sched.(cron.ConstantDelaySchedule); ok && d.Delay < MinScheduleInterval {
		return []string{fmt.Sprintf("cron: @every must be >= %s, got %s", MinScheduleInterval, d.Delay)}
	}
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if sched.Next(start).IsZero() {
		return []string{fmt.Sprintf("cron: %q never fires", expr)}
	}
	return nil
}

// placeSchedule sets a schedule's first slot after now.
func placeSchedule(sc *store.Schedule, now time.Time) error {
	tm, err := timingOf(*sc)
	if err != nil {
		return err
	}
	sc.Next = tm.Next(now)
	sc.Due = sc.Next.Add(jitterOf(sc.ID, sc.Next, sc.Jitter))
	return nil
}

func (s *Server) handleCreateSchedule(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	body, ok := s.requestBody(w, r)
	if !ok {
		return
	}
	sc, err := s.readSchedule(ctx, p, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	have, err := s.st.Schedules(ctx, p.tenant.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(have) >= s.cfg.MaxSchedules {
		var le LimitError
		le.add("max_schedules", fmt.Sprintf("the tenant has %d schedules; the agent allows %d", len(have), s.cfg.MaxSchedules))
		s.writeError(w, r, &le)
		return
	}
	sc, err = CreateSchedule(ctx, s.st, p.tenant.ID, sc, s.now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(ctx, p, "schedule", "", fmt.Sprintf("created schedule %s %q", sc.ID, sc.Name))
	w.Header().Set("Location", "/schedules/"+sc.ID)
	writeJSON(w, http.StatusCreated, ShowSchedule(sc))
}

// CreateSchedule stores a schedule of tenant (see ParseSchedule), created
// at now, with its first slot after now.
func CreateSchedule(ctx context.Context, st *store.Store, tenant string, sc store.Schedule, now time.Time) (store.Schedule, error) {
	sc.Created = now
	// An interval counts from the creation; the jitter needs the ID the
	// store gives, so the slots are placed once it has.
	if err := placeSchedule(&sc, now); err != nil {
		return store.Schedule{}, err
	}
	sc, err := st.AddSchedule(ctx, tenant, sc)
	if err != nil {
		return store.Schedule{}, err
	}
	if err := placeSchedule(&sc, now); err != nil {
		return store.Schedule{}, err
	}
	return st.UpdateSchedule(ctx, tenant, sc)
}

// ReplaceSchedule stores a new definition of tenant's schedule sc.ID, its
// slots placed afresh after now.
func ReplaceSchedule(ctx context.Context, st *store.Store, tenant string, sc store.Schedule, now time.Time) (store.Schedule, error) {
	if err := placeSchedule(&sc, now); err != nil {
		return store.Schedule{}, err
	}
	return st.UpdateSchedule(ctx, tenant, sc)
}

func (s *Server) handleListSchedules(w http.ResponseWriter, r *http.Request, p principal) {
	scs, err := s.st.Schedules(r.Context(), p.tenant.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := ScheduleList{Schedules: make([]ScheduleInfo, len(scs))}
	for i, sc := range scs {
		out.Schedules[i] = ShowSchedule(sc)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetSchedule(w http.ResponseWriter, r *http.Request, p principal) {
	sc, err := s.st.Schedule(r.Context(), p.tenant.ID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ShowSchedule(sc))
}

// handleUpdateSchedule replaces a schedule's definition; its slots start
// afresh from the time of the update.
func (s *Server) handleUpdateSchedule(w http.ResponseWriter, r *http.Request, p principal) {
	ctx := r.Context()
	old, err := s.st.Schedule(ctx, p.tenant.ID, r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, ok := s.requestBody(w, r)
	if !ok {
		return
	}
	sc, err := s.readSchedule(ctx, p, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc.ID, sc.Created = old.ID, old.Created
	if sc, err = ReplaceSchedule(ctx, s.st, p.tenant.ID, sc, s.now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(ctx, p, "schedule", "", fmt.Sprintf("updated schedule %s %q", sc.ID, sc.Name))
	writeJSON(w, http.StatusOK, ShowSchedule(sc))
}

func (s *Server) handleDeleteSchedule(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if err := s.st.RemoveSchedule(r.Context(), p.tenant.ID, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "schedule", "", "removed schedule "+id)
	w.WriteHeader(http.StatusNoContent)
}

// scheduler hands each due slot of every tenant's schedules to start,
// once across every replica on the store: a slot is claimed in the store
// before it runs.
type scheduler struct {
	st      *store.Store
	logger  *slog.Logger
	replica string
	// grace is how late a slot may start and still count as on time:
	// slots later than that are missed.
	grace time.Duration
	// start starts a slot's run and reports whether it started one.
	start func(ctx context.Context, sc store.Schedule, slot time.Time) bool
}

// maxCatchUp bounds the slots walked to find the latest missed one (a
// year of every-minute slots).
const maxCatchUp = 366 * 24 * 60

// runDue claims and starts every slot due at now, and returns how many
// runs it started.
func (sd *scheduler) runDue(ctx context.Context, now time.Time) (int, error) {
	due, err := sd.st.DueSchedules(ctx, now)
	if err != nil {
		return 0, err
	}
	// Slots start at once, each through its script's init code: one
	// tenant's slow init (bounded by init_timeout) must not delay another's
	// slot behind it (4 spinning schedules held another tenant's slot 39 s).
	var started atomic.Int64
	var starts sync.WaitGroup
	for _, sc := range due {
		tm, err := timingOf(sc)
		if err != nil { // the API checked it: a schedule of a newer agent
			sd.logger.Error("schedule: timing", "schedule", sc.ID, "tenant", sc.Tenant, "error", err)
			continue
		}
		// latest is the last slot at or before now: the one a late agent
		// runs once for all it missed.
		latest := sc.Next
		for i := 0; i < maxCatchUp; i++ {
			n := tm.Next(latest)
			if n.IsZero() || n.After(now) {
				break
			}
			latest = n
		}
		run := latest
		late := now.Sub(latest.Add(jitterOf(sc.ID, latest, sc.Jitter))) > sd.grace
		if late && sc.Missed == store.MissedSkip {
			run = time.Time{}
		}
		next := tm.Next(latest)
		c := store.Claim{Tenant: sc.Tenant, Schedule: sc.ID, Slot: sc.Next, Run: run, Next: next,
			Due: next.Add(jitterOf(sc.ID, next, sc.Jitter)), Replica: sd.replica}
		if next.IsZero() { // a cron expression that fires no more
			c.Due = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
			c.Next = c.Due
		}
		won, err := sd.st.ClaimSlot(ctx, c)
		if err != nil {
			starts.Wait()
			return int(started.Load()), err
		}
		switch {
		case !won:
		case run.IsZero():
			sd.logger.Info("schedule: missed slots skipped", "schedule", sc.ID, "tenant", sc.Tenant, "from", sc.Next, "to", latest)
		default:
			if late {
				sd.logger.Warn("schedule: running a missed slot once", "schedule", sc.ID, "tenant", sc.Tenant, "slot", run,
					"missed_since", sc.Next)
			}
			starts.Go(func() {
				if sd.start(ctx, sc, run) {
					started.Add(1)
				}
			})
		}
	}
	starts.Wait()
	return int(started.Load()), nil
}

// startScheduled starts a schedule's slot through the start path of
// requests, as a run of the schedule's tenant (its current limits), and
// records the run or why there is none.
func (s *Server) startScheduled(ctx context.Context, sc store.Schedule, slot time.Time) bool {
	logger := s.logger.With("schedule", sc.ID, "tenant", sc.Tenant, "slot", slot)
	var runID, msg string
	ten, err := s.st.Tenant(ctx, sc.Tenant)
	if err == nil {
		p := principal{tenant: ten, keyID: sc.ID}
		var resp StartResponse
		resp, err = s.begin(ctx, p, func() (startRequest, error) {
			spec, err := loadtest.DecodeTestSpec(sc.Spec)
			return startRequest{spec: spec}, err
		}, origin{schedule: sc.ID, slot: slot})
		runID = resp.ID
	}
	if err != nil {
		msg = startProblem(err)
		logger.Warn("schedule: the slot's test did not start", "error", msg)
		if aerr := s.st.Audit(ctx, sc.Tenant, store.AuditEvent{Actor: sc.ID, Action: "schedule",
			Detail: fmt.Sprintf("slot %s did not start: %s", slot.UTC().Format(time.RFC3339), msg)}); aerr != nil {
			logger.Error("audit", "error", aerr)
		}
	} else {
		logger.Info("schedule: started", "run", runID)
	}
	if err := s.st.SetScheduleOutcome(context.WithoutCancel(ctx), sc.Tenant, sc.ID, slot, runID, msg); err != nil {
		logger.Error("schedule: recording the slot", "error", err)
	}
	return runID != ""
}

// startProblem says why a start failed, as the API would: the problems of
// a 400, the limits of a 403 or 429, and no internal detail.
func startProblem(err error) string {
	var (
		bad   *badRequest
		limit *LimitError
	)
	switch {
	case errors.As(err, &bad):
		return strings.Join(bad.problems, "; ")
	case errors.As(err, &limit):
		return limit.Error()
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return strings.Join(problems(err), "; ")
	case errors.Is(err, errShuttingDown):
		return err.Error()
	}
	return "internal error"
}

// RunSchedules starts the schedules' slots due at now and returns how many
// runs it started. The Server calls it every Config.SchedulePoll on
// Config.Now; call it yourself when SchedulePoll is negative (a test on a
// simulated clock, or an agent driven by an outside timer).
func (s *Server) RunSchedules(ctx context.Context, now time.Time) (int, error) {
	return s.sched.runDue(ctx, now)
}

// scheduleLoop runs due slots every SchedulePoll until ctx ends.
func (s *Server) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SchedulePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.sched.runDue(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.logger.Error("schedules", "error", err)
			}
		}
	}
}
