package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SetBudgets replaces the performance budgets of tenant's test (the runs
// named test), kept as the JSON the service checks. It fails with
// ErrNotFound when the tenant does not exist.
func (s *Store) SetBudgets(ctx context.Context, tenant, test string, budgets json.RawMessage) error {
	err := s.tx(ctx, func(tx *txn) error {
		if err := tenantExists(ctx, tx, tenant); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO budgets (tenant, test, spec, updated_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant, test) DO UPDATE SET spec = excluded.spec, updated_ns = excluded.updated_ns`,
			tenant, test, string(budgets), time.Now().UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set budgets: %w", err)
	}
	return nil
}

// Budgets returns the budgets of tenant's test, or ErrNotFound when it has
// none.
func (s *Store) Budgets(ctx context.Context, tenant, test string) (json.RawMessage, error) {
	var spec string
	err := s.r.QueryRowContext(ctx, "SELECT spec FROM budgets WHERE tenant = ? AND test = ?", tenant, test).Scan(&spec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: budgets of test %q: %w", test, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: budgets: %w", err)
	}
	return json.RawMessage(spec), nil
}

// RemoveBudgets removes the budgets of tenant's test, or fails with
// ErrNotFound.
func (s *Store) RemoveBudgets(ctx context.Context, tenant, test string) error {
	res, err := s.w.ExecContext(ctx, "DELETE FROM budgets WHERE tenant = ? AND test = ?", tenant, test)
	if err != nil {
		return fmt.Errorf("store: remove budgets: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: budgets of test %q: %w", test, ErrNotFound)
	}
	return nil
}

// SetRunBudget records a run's budget check: its status ("passed",
// "breached") and the check itself as JSON.
func (s *Store) SetRunBudget(ctx context.Context, tenant, id, status string, check json.RawMessage) error {
	return s.update(ctx, tenant, id, "set budget", "UPDATE runs SET budget_status = ?, budget = ? WHERE tenant = ? AND id = ?",
		status, string(check), tenant, id)
}

// MarkBreached records whether the latest check of the budgets of tenant's
// test breached them, and reports whether that changed: a breach alerts
// once, when it begins, on whichever replica checks first.
func (s *Store) MarkBreached(ctx context.Context, tenant, test string, breached bool) (changed bool, err error) {
	res, err := s.w.ExecContext(ctx, "UPDATE budgets SET breached = ? WHERE tenant = ? AND test = ? AND breached != ?",
		b2i(breached), tenant, test, b2i(breached))
	if err != nil {
		return false, fmt.Errorf("store: mark budgets breached: %w", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// BudgetEntry is one run in the history of a test's budgets.
type BudgetEntry struct {
	Run
	// Check is the run's budget check as the service recorded it.
	Check json.RawMessage `json:"check"`
}

// BudgetHistory returns the runs of tenant's test that had their budgets
// checked, newest first, at most limit (0 means DefaultLimit, at most
// MaxLimit), without their spec, result and analysis.
func (s *Store) BudgetHistory(ctx context.Context, tenant, test string, limit int) ([]BudgetEntry, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := s.r.QueryContext(ctx, "SELECT "+summaryCols+`, budget FROM runs WHERE tenant = ? AND name = ? AND budget IS NOT NULL
		ORDER BY seq DESC LIMIT ?`, tenant, test, limit)
	if err != nil {
		return nil, fmt.Errorf("store: budget history: %w", err)
	}
	defer rows.Close()
	out := []BudgetEntry{}
	for rows.Next() {
		var check string
		r, _, err := scanSummary(rows, &check)
		if err != nil {
			return nil, fmt.Errorf("store: budget history: %w", err)
		}
		out = append(out, BudgetEntry{Run: r, Check: json.RawMessage(check)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: budget history: %w", err)
	}
	return out, nil
}
