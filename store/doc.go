// Package store keeps the agent's state.
//
// It keeps it in SQLite, or in PostgreSQL for several agent replicas:
// tenants and their hashed API keys, limits and webhooks, every run of every
// tenant (state, timestamps, the redacted test spec, the Result, the anomaly
// Report and the AI analysis), and an audit log of who did what.
//
// Every call that touches a tenant's data takes the tenant explicitly; a run
// of another tenant answers [ErrNotFound], exactly like a missing one.
//
// The database is one file opened with the pure-Go modernc.org/sqlite
// driver in WAL mode: one writer connection (SQLite has one writer anyway)
// and a pool of read-only connections, so that status and list queries are
// never queued behind a write. The schema is migrated in code when the file
// is opened ([Open]).
//
// Open with a postgres:// URL uses PostgreSQL through jackc/pgx's
// database/sql driver instead: the same queries (written with ?
// placeholders, numbered for PostgreSQL), the same migrations (column
// types translated), applied under an advisory lock. Several agents may
// share it: schedules' slots are claimed there, so that one replica runs
// each. The SQLite-only guards (quick_check, the exclusive lock file, the
// empty-file check) do not apply to it. The test suite runs against both.
//
// It may import anomaly, loadtest, scenarios and metrics. A [Store] is safe
// for concurrent use.
//
// Usage:
//
//	st, err := store.Open(ctx, "loadlens.db")
//	…
//	defer st.Close()
//	key, err := st.AddTenant(ctx, "acme")     // give key to the tenant
//	err = st.AddWebhook(ctx, "acme", store.Webhook{URL: "https://hooks.example/acme", Format: store.FormatSlack})
//	ten, keyID, err := st.Authenticate(ctx, key)
//	run, err := st.CreateRun(ctx, ten.ID, store.Run{Name: "checkout", TestType: "load", Spec: spec})
//	…
//	err = st.Finish(ctx, ten.ID, run.ID, store.Finish{State: store.Completed, Result: &res})
package store
