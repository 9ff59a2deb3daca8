package service

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// recoverRuns marks interrupted the runs whose agent died. On SQLite one
// agent serves the file (it holds its lock), so at its start every live run
// is one an earlier agent left (atStart). On PostgreSQL, replicas share the
// database: a run is dead when its replica's heartbeat stopped for
// StaleAfter.
func (s *Server) recoverRuns(ctx context.Context, atStart bool) error {
	now := time.Now()
	var (
		recovered []store.Run
		err       error
		detail    string
	)
	switch {
	case s.st.Backend() == "sqlite" && atStart:
		recovered, err = s.st.RecoverInterrupted(ctx, now, "the agent stopped while the test was running")
		detail = "marked interrupted at restart"
	case s.st.Backend() == "sqlite":
		return nil
	default:
		recovered, err = s.st.InterruptStale(ctx, now.Add(-s.cfg.StaleAfter), now,
			fmt.Sprintf("the agent running the test stopped answering (no heartbeat for %s)", s.cfg.StaleAfter))
		detail = "marked interrupted by replica " + s.cfg.Replica
	}
	if err != nil {
		return err
	}
	for _, r := range recovered {
		s.logger.Warn("run interrupted: its agent stopped", "run", r.ID, "tenant", r.Tenant, "name", r.Name, "replica", r.Replica)
		if err := s.st.Audit(ctx, r.Tenant, store.AuditEvent{Actor: "agent", Action: "interrupted", RunID: r.ID, Detail: detail}); err != nil {
			s.logger.Error("audit", "error", err)
		}
	}
	return nil
}

// replicaLoop, every Heartbeat until ctx ends, tells the store this
// agent's runs are alive (with their progress), cancels those another
// replica asked to cancel, and recovers the runs of replicas that died.
func (s *Server) replicaLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		live := make([]*liveRun, 0, len(s.live))
		for _, r := range s.live {
			live = append(live, r)
		}
		s.mu.Unlock()
		stats := make(map[string]store.Stats, len(live))
		for _, r := range live {
			r.mu.Lock()
			state := r.state
			r.mu.Unlock()
			stats[r.id] = statsOf(loadtest.Result{}, r.snapshot(), state)
		}
		cancel, err := s.st.Heartbeat(ctx, s.cfg.Replica, time.Now(), stats)
		if err != nil && ctx.Err() == nil {
			s.logger.Error("heartbeat", "error", err)
		}
		for _, id := range cancel {
			for _, r := range live {
				if r.id == id && !r.isFinal() {
					s.logger.Info("run cancelled from another replica", "run", id, "tenant", r.tenant)
					r.cancel(errCancelled)
				}
			}
		}
		if err := s.recoverRuns(ctx, false); err != nil && ctx.Err() == nil {
			s.logger.Error("recovering the runs of stopped replicas", "error", err)
		}
	}
}

// cancelRemote cancels a run that another replica runs: it asks through
// the store, and that replica cancels it at its next heartbeat.
func (s *Server) cancelRemote(w http.ResponseWriter, r *http.Request, p principal, run store.Run) {
	if err := s.st.RequestCancel(r.Context(), p.tenant.ID, run.ID, time.Now()); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.audit(r.Context(), p, "cancel", run.ID, "run on replica "+run.Replica)
	writeJSON(w, http.StatusAccepted, statusOf(run))
}

// eventsRemote streams the progress of a run that another replica runs,
// as that replica's heartbeats leave it in the store: a "status" event at
// once, a "progress" event each Heartbeat, "done" when the run ends.
func (s *Server) eventsRemote(w http.ResponseWriter, r *http.Request, p principal, st RunStatus) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	seq := 0
	send := func(event string, st RunStatus) bool {
		seq++
		b, _ := json.Marshal(st) // plain data: cannot fail
		_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, event, b)
		_ = rc.Flush()
		return err == nil
	}
	if !send("status", st) {
		return
	}
	s.metrics.subscribers.Inc()
	defer s.metrics.subscribers.Dec()
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.stopping:
			return
		case <-t.C:
		}
		st, err := s.status(r.Context(), p.tenant.ID, st.ID)
		if err != nil {
			return
		}
		if st.State.Final() {
			send("done", st)
			return
		}
		if !send("progress", st) {
			return
		}
	}
}
