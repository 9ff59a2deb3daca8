package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Errors callers branch on.
var (
	// ErrNotFound: no such tenant or run for this tenant. Another tenant's
	// run answers ErrNotFound too.
	ErrNotFound = errors.New("not found")
	// ErrExists: a tenant of that name exists already.
	ErrExists = errors.New("already exists")
	// ErrBadKey: the API key is unknown or revoked.
	ErrBadKey = errors.New("invalid API key")
	// ErrConflict: the run is not in a state that allows the change (it
	// has finished, or has no result yet).
	ErrConflict = errors.New("conflict")
)

// Store is the agent's database: a SQLite file, or PostgreSQL for several
// agent replicas ([Open] with a postgres:// URL). It is safe for concurrent
// use.
type Store struct {
	w      *db // the one writer connection (SQLite); the pool (PostgreSQL)
	r      *db // read-only connections (SQLite); the same pool (PostgreSQL)
	logger *slog.Logger
	unlock func() // releases the Exclusive lock; nil without
}

// Options tune Open. The zero value is the defaults.
type Options struct {
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// Readers is how many read-only connections may be open at once;
	// default 4.
	Readers int
	// BusyTimeout is how long a connection waits for a lock held by another
	// process; default 5s.
	BusyTimeout time.Duration
	// Exclusive holds a lock on the database (a ".lock" file beside it)
	// until Close, and fails Open with ErrLocked when another process holds
	// it: for the agent, of which one process serves a database.
	// Short-lived clients (the tenant commands) open it without. Unix
	// only: elsewhere no lock is taken.
	Exclusive bool
}

// ErrLocked: another process holds the database's exclusive lock.
var ErrLocked = errors.New("database in use by another process")

// Open opens (creating it if needed) the SQLite database at path, checks
// its integrity (PRAGMA quick_check), switches it to WAL mode and migrates
// its schema. An existing empty file is refused, not made a new database:
// it is a database lost, not one never made. path is a file name;
// ":memory:" is not supported (readers and the writer must share the file).
//
// A path that is a postgres:// or postgresql:// URL opens that PostgreSQL
// database instead, which several agent replicas may share: its schema is
// migrated under an advisory lock, so that replicas starting together
// migrate it once.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if IsPostgres(path) {
		return openPostgres(ctx, path, o)
	}
	if path == "" || path == ":memory:" {
		return nil, fmt.Errorf("store: path: want a file name, got %q", path)
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("store: %s is an empty file, not a database: restore it, or remove it to start with a new one", path)
	}
	var unlock func()
	if o.Exclusive {
		var err error
		if unlock, err = lockFile(path + ".lock"); err != nil {
			return nil, fmt.Errorf("store: %s: %w", path, err)
		}
	}
	s, err := open(ctx, path, o, logger)
	if err != nil {
		if unlock != nil {
			unlock()
		}
		return nil, err
	}
	s.unlock = unlock
	return s, nil
}

func open(ctx context.Context, path string, o Options, logger *slog.Logger) (*Store, error) {
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn("_pragma", "journal_mode(WAL)", "_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	s := &Store{w: &db{DB: w}, logger: logger}
	if err := s.check(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("_pragma", "query_only(1)"))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	s.r = &db{DB: r}
	if err := r.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database and releases its lock. Calls after Close fail.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if s.unlock != nil {
		s.unlock()
	}
	return errors.Join(errs...)
}

// check runs SQLite's quick_check: a database with damaged pages answered
// "ok" to health checks, then failed one request in five.
func (s *Store) check(ctx context.Context) error {
	rows, err := s.w.QueryContext(ctx, "PRAGMA quick_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" && len(problems) < 10 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("the database is damaged (PRAGMA quick_check): %s", strings.Join(problems, "; "))
	}
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// migrations are applied in order; PRAGMA user_version counts those done.
// Never edit one that shipped: add another.
var migrations = []string{
	`CREATE TABLE tenants (
		id TEXT PRIMARY KEY,
		created_ns INTEGER NOT NULL,
		max_vus INTEGER NOT NULL DEFAULT 0,
		max_duration_ns INTEGER NOT NULL DEFAULT 0,
		max_concurrent INTEGER NOT NULL DEFAULT 0,
		allowed_hosts TEXT NOT NULL DEFAULT '[]'
	);
	CREATE TABLE api_keys (
		id TEXT PRIMARY KEY,
		tenant TEXT NOT NULL REFERENCES tenants(id),
		hash BLOB NOT NULL UNIQUE,
		created_ns INTEGER NOT NULL,
		revoked_ns INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE runs (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		id TEXT NOT NULL UNIQUE,
		tenant TEXT NOT NULL REFERENCES tenants(id),
		name TEXT NOT NULL,
		test_type TEXT NOT NULL,
		state TEXT NOT NULL,
		actor TEXT NOT NULL DEFAULT '',
		created_ns INTEGER NOT NULL,
		started_ns INTEGER NOT NULL DEFAULT 0,
		ended_ns INTEGER NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '',
		status TEXT NOT NULL DEFAULT '',
		baseline INTEGER NOT NULL DEFAULT 0,
		stats TEXT NOT NULL DEFAULT '{}',
		spec TEXT NOT NULL DEFAULT '{}',
		result TEXT,
		report TEXT,
		ai TEXT
	);
	CREATE INDEX runs_tenant_seq ON runs(tenant, seq);
	CREATE INDEX runs_tenant_test ON runs(tenant, name, test_type, seq);
	CREATE INDEX runs_state ON runs(state);
	CREATE TABLE audit (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		tenant TEXT NOT NULL,
		at_ns INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		run_id TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_tenant_seq ON audit(tenant, seq);`,
	// 2: a tenant's own webhooks, which go with the tenant.
	`CREATE TABLE webhooks (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
		url TEXT NOT NULL,
		format TEXT NOT NULL,
		events TEXT NOT NULL DEFAULT '[]',
		retries INTEGER NOT NULL DEFAULT 0,
		backoff_ns INTEGER NOT NULL DEFAULT 0,
		created_ns INTEGER NOT NULL,
		UNIQUE (tenant, url)
	);`,
	// 3: removed tenants keep their runs (and their name) but no keys.
	`ALTER TABLE tenants ADD COLUMN removed_ns INTEGER NOT NULL DEFAULT 0;`,
	// 4: recurring tests; a run remembers the schedule and slot that made
	// it. A claimed slot's row is the lease that keeps two replicas from
	// running it twice.
	`ALTER TABLE runs ADD COLUMN schedule_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN slot_ns INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE schedules (
		id TEXT PRIMARY KEY,
		tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		cron TEXT NOT NULL DEFAULT '',
		timezone TEXT NOT NULL DEFAULT '',
		interval_ns INTEGER NOT NULL DEFAULT 0,
		jitter_ns INTEGER NOT NULL DEFAULT 0,
		enabled INTEGER NOT NULL,
		missed TEXT NOT NULL,
		spec TEXT NOT NULL,
		created_ns INTEGER NOT NULL,
		updated_ns INTEGER NOT NULL,
		next_ns INTEGER NOT NULL,
		due_ns INTEGER NOT NULL,
		last_slot_ns INTEGER NOT NULL DEFAULT 0,
		last_run TEXT NOT NULL DEFAULT '',
		last_error TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX schedules_tenant ON schedules(tenant, created_ns);
	CREATE INDEX schedules_due ON schedules(enabled, due_ns);
	CREATE TABLE schedule_slots (
		schedule TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
		slot_ns INTEGER NOT NULL,
		claimed_ns INTEGER NOT NULL,
		replica TEXT NOT NULL,
		PRIMARY KEY (schedule, slot_ns)
	);`,
	// 5: performance budgets per test, and each run's check of them.
	// breached remembers the last check, so that a breach alerts once.
	`CREATE TABLE budgets (
		tenant TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
		test TEXT NOT NULL,
		spec TEXT NOT NULL,
		breached INTEGER NOT NULL DEFAULT 0,
		updated_ns INTEGER NOT NULL,
		PRIMARY KEY (tenant, test)
	);
	ALTER TABLE runs ADD COLUMN budget_status TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN budget TEXT;`,
	// 6: the replica that runs a run, its heartbeat, and a cancel asked
	// of another replica: agents sharing a database see, cancel and
	// recover each other's runs.
	`ALTER TABLE runs ADD COLUMN replica TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN heartbeat_ns INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE runs ADD COLUMN cancel_ns INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX runs_replica ON runs(replica, state);`,
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's %d", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		err := s.tx(ctx, func(tx *txn) error {
			if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		s.logger.Info("store: schema migrated", "version", i+1)
	}
	return nil
}

// tx runs f in a write transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*txn) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// randomID returns prefix followed by n random bytes in hex.
func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return prefix + hex.EncodeToString(b)
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
