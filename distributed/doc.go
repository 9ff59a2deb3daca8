// Package distributed runs one test across many machines: a coordinator
// and N runners, coordinated over NATS with JetStream.
//
// Every runner runs its execution segment of the plan (k6's segments, so
// VUs, iterations and arrival rates of all runners add up to the
// single-process plan exactly) as a loadtest generator ([loadtest.Gate]):
// it initialises its VUs, waits at a ready barrier, starts at a common
// time (clock offsets measured over NATS round trips) and sends a
// mergeable [loadtest.Partial] every second. The [Coordinator] is the
// [loadtest.Remote] of the run: setup() and teardown() run once, on the
// coordinator, and setup's data goes to every runner; thresholds are
// evaluated every second on the merged metrics (abortOnFail stops every
// runner); the Result, summary, handleSummary, exit code, report and
// analysis come from one merged Result, as for a single process.
//
// On the wire: subjects per run under loadlens.run.<id>; the test
// archive in a JetStream object store; the start and stop orders in a
// JetStream key-value bucket (a runner that reconnects still reads them);
// partials, each runner's final word and, when the coordinator writes
// NDJSON or CSV outputs ([Coordinator.ForwardSamples]), every sample in
// a JetStream stream, which the coordinator purges as it reads it;
// heartbeats on core NATS. No home-made RPC.
//
// Faults: a runner that stops heartbeating for [HeartbeatTimeout] or
// exits is reported at once and, by [LossAbort], aborts the run; a
// runner that never joins fails the start after JoinTimeout; runners
// stop by themselves (gracefully, then hard after gracefulStop) when the
// coordinator goes silent for [HeartbeatTimeout]. Nothing is retried.
//
// The agent's runner pool: [Pool] hands sessions to [PoolRunner]s
// through a JetStream work queue; each session is a process on the
// runner (the agent's sandbox child) whose input and output travel, in
// order and acknowledged, through the session's stream, with heartbeats
// both ways on core NATS.
//
// [StartServer] runs an embedded NATS server (JetStream, a temporary
// store) when there is no NATS to use; [Local] launches runners as local
// processes. Package distributed/k8s renders Kubernetes manifests.
//
// distributed imports loadtest, scenarios and metrics; it knows nothing
// of scripts (the caller packs and builds the test), the agent or AI.
//
//	srv, _ := distributed.StartServer(ctx, distributed.ServerOptions{})
//	defer srv.Shutdown()
//	nc, _ := nats.Connect(srv.ClientURL())
//	defer nc.Close()
//	self, _ := os.Executable() // a binary whose `runner` command runs a distributed.Runner
//	plan.Remote = &distributed.Coordinator{Conn: nc, URL: srv.ClientURL(), Runners: 4, Archive: archive,
//		Launcher: distributed.Local{Command: func(url, runID string, index int) *exec.Cmd {
//			return exec.Command(self, "runner", "--nats", url, "--run", runID, "--index", strconv.Itoa(index))
//		}}}
//	res, err := loadtest.Run(ctx, plan)
//
// Example (in example_test.go) runs the same with runners in the
// caller's process.
package distributed
