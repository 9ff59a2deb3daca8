// Package service is the AIOps agent's REST API.
//
// It serves tenants authenticated by API key, per-tenant limits, a run
// manager that executes tests in process (start, status, result, list,
// cancel, quick-stress, scale), live progress as Server-Sent Events,
// run-vs-run and baseline comparison, webhook alerts (to the agent's
// webhooks and to each tenant's own, which only the operator sets, in the
// store), an audit log, Prometheus /metrics and an OpenAPI 3 document at
// /openapi.json.
//
// Routes (all under an API key except /healthz, /metrics and
// /openapi.json):
//
//	POST /load-test/start                 202 started; 400 invalid; 403 over a limit; 429 too many running
//	                                      (a JSON spec, or multipart: a "spec" field and the script's "file"
//	                                      parts, or an "archive" part from `loadlens archive` or `k6 archive`)
//	POST /load-test/quick-stress?target_url=&duration_minutes=&virtual_users=
//	GET  /load-test/list?state=&test_type=&name=&since=&until=&limit=&cursor=
//	GET  /load-test/{id}/status           state, progress %, VUs, req/s, error rate, p95 so far
//	GET  /load-test/{id}/result           Result, findings, AI analysis
//	GET  /load-test/{id}/events           text/event-stream of per-second progress
//	GET  /load-test/{id}/report.html      the HTML report (Config.RenderHTML)
//	GET  /load-test/{id}/compare/{other}  report.Compare against another run or "baseline"
//	POST /load-test/{id}/cancel
//	DELETE /load-test/{id}                delete a finished run, freeing the tenant's storage quota
//	POST /load-test/{id}/scale            {"vus": N} for externally-controlled scenarios
//	POST /load-test/{id}/baseline         make a completed run its test's baseline
//	GET  /audit                           the tenant's audit log
//	POST /schedules                       a recurring test: cron (with time zone) or interval, jitter, missed slots
//	GET  /schedules, GET|PUT|DELETE /schedules/{id}
//	PUT|GET|DELETE /budgets/{test}        a test's performance budgets, checked at the end of each run
//	GET  /budgets/{test}/history          the test's runs with their budget checks
//	GET  /tests/{name}/trend?metric=&stat=&test_type=&limit=  a metric over the test's runs, with change points
//	GET  /healthz, GET /metrics, GET /openapi.json
//
// A request carries its key as "Authorization: Bearer KEY" or "X-API-Key:
// KEY"; X-Tenant-ID, when sent, must name the key's tenant. Another
// tenant's run answers 404 like a missing one. Errors are JSON
// {"errors": ["field: problem", …]}; 500s log their details and send none.
//
// Tenants are hostile: a start is admitted (concurrency, storage quota)
// before its body is read; a script's init code runs within
// Config.InitTimeout in one of Config.MaxConcurrentInits slots, and with
// Config.Sandbox (which loadlens serve sets) in a child process with its
// own memory limit, fewer CPUs, a lower priority and, with Landlock, no
// sight of the agent's files (see [Sandbox];
// Sandbox.Start puts the child on a runner of a pool instead). A
// script reads only the files uploaded with it, and remote modules only
// from its tenant's allowed hosts; every connection of a run is checked
// against them at dial time. [Server.HTTPServer] and [LimitListener] bound
// slow and idle clients.
//
// Schedules run on every agent replica that shares the store: each slot is
// claimed in the store first, so that one replica runs it, once; a slot
// missed while no agent ran runs once when one is back (or is skipped). A
// slot starts its test through the same path as POST /load-test/start,
// as a run of the schedule's tenant under its current limits.
//
// Several agents may share one PostgreSQL store (replicas): each run
// belongs to the replica that started it, which heartbeats it with its
// progress every Config.Heartbeat; any replica shows its status, lists it,
// streams its events (from the heartbeats) and cancels it (through the
// store, within a heartbeat), and a run whose replica stopped heartbeating
// for Config.StaleAfter is marked interrupted by another.
//
// The capabilities of packages still being written elsewhere (k6 scripts,
// the AI analysis, the HTML report) come in as plain functions in
// [Config], wired by package cli.
//
// It may import store, report, gemini, anomaly, js, loadtest, scenarios,
// metrics and target. It never reads the environment or prints; it logs
// through the [Config.Logger] ([NewLogHandler] writes Cloud
// Logging-compatible JSON).
//
// Usage:
//
//	st, err := store.Open(ctx, "loadlens.db")
//	…
//	srv, err := service.New(service.Config{Store: st, Logger: logger})
//	…
//	hs := &http.Server{Addr: "127.0.0.1:8086", Handler: srv.Handler()}
//	go hs.ListenAndServe()
//	<-ctx.Done()
//	srv.Shutdown(shutdownCtx) // stops tests, stores partial results, ends SSE streams
//	hs.Shutdown(shutdownCtx)
package service
