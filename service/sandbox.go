package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/store"
)

// Sandbox runs tenant scripts in child processes, from their init code to
// their result: the agent's own process never runs a tenant's JavaScript,
// so a script that exhausts memory or CPU ends only its own run, never the
// agent or another tenant's test. A child uses at most Procs CPUs at once,
// keeps its heap under MemoryBytes
// (a run that crosses it fails with a message saying so; the agent kills a
// child whose resident memory passes MaxResidentBytes), runs at a lower CPU
// priority than the agent, holds at most OpenFiles descriptors, has an
// environment of Env only and dies with the agent. Where Linux has
// Landlock (5.13 on; the agent warns when it lacks it), a child sees of
// the file system only what it needs to start and resolve names (its
// binary, the system's libraries, /etc), read-only, holds no capability
// and no descriptor of the agent's but its standard streams, cannot
// ptrace the agent and from Linux 6.12 on cannot signal a process outside
// it: should a script escape the JavaScript runtime, the agent's database
// and keys stay out of reach.
type Sandbox struct {
	// Command starts a child that calls ServeSandbox on its standard input
	// and output; for the loadlens binary, {os.Executable(), "sandbox"}.
	// Required.
	Command []string
	// Env is the child's whole environment (the agent's own, with its API
	// keys, is not passed on); nil means none.
	Env []string
	// MemoryBytes bounds a child's Go heap; default 1 GiB.
	MemoryBytes int64
	// MaxResidentBytes is the child's resident memory past which the agent
	// kills it, should the child's own heap watch not stop it in time;
	// default 3 × MemoryBytes (the child lets garbage grow to twice its
	// live heap).
	MaxResidentBytes int64
	// Nice is the scheduling niceness of a tenant's only child, 0 … 19;
	// default 10. Each of a tenant's k children runs log1.25(k) steps
	// nicer (19 at most), so that a tenant weighs the same with the CPU
	// scheduler however many tests it runs at once.
	Nice int
	// Procs is the CPUs a child may use at once (its GOMAXPROCS); default
	// one fewer than the machine has, at least 1, so that a test spinning
	// every thread it has leaves the agent a core.
	Procs int
	// OpenFiles bounds a child's file descriptors (RLIMIT_NOFILE); default
	// 16384.
	OpenFiles uint64
	// MaxResultBytes bounds a run's result as the child sends it (JSON);
	// a larger one fails the run, so that what the agent decodes, stores
	// and analyses stays small whatever the script made. Default 64 MiB.
	MaxResultBytes int64
	// Start, when set, starts children elsewhere than as processes of
	// this machine: on the runners of a pool (`loadlens serve --nats`),
	// each of which starts a local child with its own Sandbox. The limits
	// of MemoryBytes, Nice, Procs, OpenFiles and MaxResultBytes travel
	// with the job; Command, Env and MaxResidentBytes are then the
	// runner's. nil starts Command here.
	Start func(ctx context.Context) (SandboxChild, error)
}

// SandboxChild is a started sandbox child, a local process or one on a
// remote runner: the child protocol's two streams and its end. Its
// methods are safe for concurrent use.
type SandboxChild interface {
	// Input takes the agent's commands; closing it tells the child that
	// the agent is done with it.
	Input() io.WriteCloser
	// Output carries the child's messages; it ends when the child does.
	Output() io.Reader
	// Kill ends the child at once.
	Kill()
	// Wait returns once the child has ended, with what its end tells: the
	// memory it was stopped for, its exit status and the end of its
	// standard error, or the loss of its runner; nil for a clean exit or
	// one the agent asked for.
	Wait() error
}

// StartChild starts a child: by Start when it is set, else Command as a
// local process with the sandbox's limits, at niceness Nice. A runner of
// a pool (`loadlens runner --pool`) starts its children with it; the
// agent's own children share the CPU by tenant instead (see cpuShares).
func (sb *Sandbox) StartChild(ctx context.Context) (SandboxChild, error) {
	o, err := sb.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.Start != nil {
		return o.Start(ctx)
	}
	return startLocalChild(o, func(cmd *exec.Cmd) (func() error, func(), error) {
		wait, err := startSandboxed(cmd, o.Nice)
		return wait, func() {}, err
	})
}

func (sb *Sandbox) withDefaults() (*Sandbox, error) {
	if sb == nil {
		return nil, nil
	}
	o := *sb
	var errs []error
	if len(o.Command) == 0 && o.Start == nil {
		errs = append(errs, errors.New("sandbox.command: required"))
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 1 << 30
	}
	if o.MaxResidentBytes <= 0 {
		o.MaxResidentBytes = 3 * o.MemoryBytes
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = 64 << 20
	}
	if o.Nice == 0 {
		o.Nice = 10
	}
	if o.Nice < 0 || o.Nice > 19 {
		errs = append(errs, fmt.Errorf("sandbox.nice: want 0 … 19, got %d", o.Nice))
	}
	if o.OpenFiles == 0 {
		o.OpenFiles = 16384
	}
	if o.Procs <= 0 {
		o.Procs = max(runtime.NumCPU()-1, 1)
	}
	return &o, errors.Join(errs...)
}

// The messages between the agent and a sandbox child, one JSON object a
// line each way.
type (
	// sandboxCmd is what the agent sends: first Job, then Run (or it closes
	// the child's input), then Stop and Scale as needed.
	sandboxCmd struct {
		Job   *sandboxJob   `json:"job,omitempty"`
		Run   *dialRule     `json:"run,omitempty"`
		Stop  *sandboxStop  `json:"stop,omitempty"`
		Scale *sandboxScale `json:"scale,omitempty"`
	}
	sandboxJob struct {
		Spec         loadtest.TestSpec `json:"spec"`
		Files        map[string][]byte `json:"files,omitempty"`
		Modules      js.ModuleMap      `json:"modules"` // null unless an archive's: see startRequest
		AllowedHosts []string          `json:"allowed_hosts"`
		InitTimeout  time.Duration     `json:"init_timeout"`
		MemoryBytes  int64             `json:"memory_bytes"`
		Procs        int               `json:"procs"`
		OpenFiles    uint64            `json:"open_files"`
		MaxResult    int64             `json:"max_result_bytes"`
	}
	// sandboxStop ends a run: Hard interrupts running iterations
	// (scenarios.ErrHardStop), otherwise they get gracefulStop.
	sandboxStop struct {
		Cause string `json:"cause"`
		Hard  bool   `json:"hard"`
	}
	sandboxScale struct {
		Scenario string `json:"scenario"`
		VUs      int64  `json:"vus"`
	}

	// sandboxMsg is what a child sends: Plan or Problems (or Failure)
	// after the job; then External, Progress and Scaled while it runs;
	// then Result. Failure says why a child gives up.
	sandboxMsg struct {
		Plan     *sandboxPlan       `json:"plan,omitempty"`
		Problems []string           `json:"problems,omitempty"`
		Failure  string             `json:"failure,omitempty"`
		External []string           `json:"external,omitempty"`
		Progress *loadtest.Snapshot `json:"progress,omitempty"`
		Scaled   *sandboxScaled     `json:"scaled,omitempty"`
		Result   *sandboxResult     `json:"result,omitempty"`
	}
	sandboxPlan struct {
		Echo     loadtest.PlanEcho `json:"echo"`
		Warnings []string          `json:"warnings,omitempty"`
	}
	sandboxScaled struct {
		Scenario string `json:"scenario"`
		Error    string `json:"error,omitempty"`
		Invalid  bool   `json:"invalid,omitempty"` // the error is the client's (400)
	}
	sandboxResult struct {
		Result loadtest.Result `json:"result"`
		Error  string          `json:"error,omitempty"`
	}
)

// childStartGrace is how long a sandbox child may take to start and
// answer, besides its init code's init_timeout.
const childStartGrace = 3 * time.Second

// sandboxed starts a child for a tenant's script and waits for its plan.
func (s *Server) sandboxed(ctx context.Context, tenant string, req startRequest, lim store.Limits) (prepared, error) {
	job := &sandboxJob{Spec: req.spec, Modules: req.modules, AllowedHosts: lim.AllowedHosts, InitTimeout: s.cfg.InitTimeout,
		MemoryBytes: s.cfg.Sandbox.MemoryBytes, Procs: s.cfg.Sandbox.Procs, OpenFiles: s.cfg.Sandbox.OpenFiles,
		MaxResult: s.cfg.Sandbox.MaxResultBytes}
	if len(req.files) > 0 {
		job.Files = map[string][]byte{}
		for name, f := range req.files {
			job.Files[name] = f.Data
		}
	}
	c, err := startChild(ctx, s.cfg.Sandbox, s.cpuShares, tenant)
	if err != nil {
		return prepared{}, fmt.Errorf("sandbox: %w", err)
	}
	if err := c.send(sandboxCmd{Job: job}); err != nil {
		c.kill()
		return prepared{}, fmt.Errorf("sandbox: %w", c.failure(err))
	}
	// The child bounds the init code itself, but sobek cannot interrupt
	// native code (a backtracking regular expression, a fill of a large
	// typed array): past init_timeout and the child's start, it is killed
	// and the tenant told why.
	timer := time.NewTimer(s.cfg.InitTimeout + childStartGrace)
	defer timer.Stop()
	select {
	case m, ok := <-c.msgs:
		switch {
		case !ok:
			c.kill()
			return prepared{}, fmt.Errorf("sandbox: %w", c.failure(errors.New("the child exited before its plan")))
		case len(m.Problems) > 0:
			c.kill()
			return prepared{}, invalid(m.Problems...)
		case m.Plan == nil:
			c.kill()
			return prepared{}, fmt.Errorf("sandbox: %w", c.failure(errors.New(m.Failure)))
		}
		e := m.Plan.Echo
		plan := loadtest.Plan{Name: e.Name, TestType: e.TestType, Scenarios: e.Scenarios, Thresholds: e.Thresholds,
			Options: e.Options, Metrics: e.Metrics, Env: e.Env, Target: e.Target, Telemetry: e.Telemetry}
		grace := stopGrace(plan)
		return prepared{plan: plan, warnings: m.Plan.Warnings, discard: c.kill,
			run: func(ctx context.Context, out *liveRun, logger *slog.Logger, dial dialRule) (loadtest.Result, error) {
				return c.run(ctx, out, logger, dial, grace)
			}}, nil
	case <-timer.C:
		c.kill()
		return prepared{}, initTimeoutProblem(s.cfg.InitTimeout)
	case <-ctx.Done():
		c.kill()
		return prepared{}, context.Cause(ctx)
	}
}

// child speaks the child protocol with a started child: it owns the
// child and the goroutine reading its output, which kill or the end of
// run wait for.
type child struct {
	proc SandboxChild

	sendMu  sync.Mutex
	in      io.WriteCloser
	enc     *json.Encoder
	scaleMu sync.Mutex // one scale request at a time: its answer is the next Scaled

	msgs chan sandboxMsg // closed when the child's output ends
	wg   sync.WaitGroup
	once sync.Once
}

// startChild starts a child for a tenant and reads its messages: by
// cfg.Start, or as a local process at the niceness of the tenant's CPU
// share.
func startChild(ctx context.Context, cfg *Sandbox, shares *cpuShares, tenant string) (*child, error) {
	var proc SandboxChild
	var err error
	if cfg.Start != nil {
		proc, err = cfg.Start(ctx)
	} else {
		proc, err = startLocalChild(cfg, func(cmd *exec.Cmd) (wait func() error, released func(), err error) {
			released, err = shares.start(tenant, func(nice int) (pid int, err error) {
				if wait, err = startSandboxed(cmd, nice); err != nil {
					return 0, err
				}
				return cmd.Process.Pid, nil
			})
			return wait, released, err
		})
	}
	if err != nil {
		return nil, err
	}
	in := proc.Input()
	c := &child{proc: proc, in: in, enc: json.NewEncoder(in), msgs: make(chan sandboxMsg, 16)}
	c.wg.Go(func() {
		defer close(c.msgs)
		out := proc.Output()
		dec := json.NewDecoder(out)
		for {
			var m sandboxMsg
			if err := dec.Decode(&m); err != nil {
				_, _ = io.Copy(io.Discard, out)
				return
			}
			c.msgs <- m
		}
	})
	return c, nil
}

func (c *child) send(cmd sandboxCmd) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.enc.Encode(cmd)
}

// kill ends the child at once and waits for its goroutines.
func (c *child) kill() {
	c.once.Do(func() {
		_ = c.in.Close()
		c.proc.Kill()
		for range c.msgs { // drained so that the reader can end
		}
		c.wg.Wait()
	})
}

// failure explains why a child failed: what the agent saw, and what the
// child's end tells. Call it once the child has ended or was killed.
func (c *child) failure(err error) error {
	if end := c.proc.Wait(); end != nil {
		return fmt.Errorf("%w: %w", err, end)
	}
	return err
}

// localChild is a sandbox child running as a process of this machine.
type localChild struct {
	cfg    *Sandbox
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    io.Reader
	tail   *tailBuffer   // the end of its standard error
	exited chan struct{} // closed once the process is waited for
	err    error         // its exit, once exited is closed
	oom    atomic.Int64  // the resident bytes over the limit that made the agent kill it
	killed atomic.Bool
	wg     sync.WaitGroup
}

var _ SandboxChild = (*localChild)(nil)

// startLocalChild starts cfg.Command with launch, which starts the
// process and returns how to wait for it and what to release once it
// has ended.
func startLocalChild(cfg *Sandbox, launch func(*exec.Cmd) (wait func() error, released func(), err error)) (*localChild, error) {
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Env = slices.Clone(cfg.Env)
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	dieWithParent(cmd)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errOut, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	wait, released, err := launch(cmd)
	if err != nil {
		return nil, err
	}
	c := &localChild{cfg: cfg, cmd: cmd, in: in, out: out, tail: &tailBuffer{max: 4 << 10}, exited: make(chan struct{})}
	c.wg.Go(func() { _, _ = io.Copy(c.tail, errOut) })
	c.wg.Go(func() {
		c.err = wait()
		released() // the tenant's CPU share back: the child is gone
		close(c.exited)
	})
	c.wg.Go(c.watchMemory)
	return c, nil
}

func (c *localChild) Input() io.WriteCloser { return c.in }
func (c *localChild) Output() io.Reader     { return c.out }

// Kill implements SandboxChild.
func (c *localChild) Kill() {
	c.killed.Store(true)
	_ = c.cmd.Process.Kill()
}

// Wait implements SandboxChild: the memory the agent stopped the child
// for, or its exit status (unless the agent killed it) and the end of
// its standard error.
func (c *localChild) Wait() error {
	<-c.exited
	c.wg.Wait()
	if rss := c.oom.Load(); rss > 0 {
		return fmt.Errorf("the test's process used %d MiB, over the agent's limit of %d MiB, and was stopped",
			rss>>20, c.cfg.MaxResidentBytes>>20)
	}
	exit := c.err
	if c.killed.Load() {
		exit = nil
	}
	switch t := strings.TrimSpace(c.tail.String()); {
	case exit != nil && t != "":
		return fmt.Errorf("%w: %s", exit, t)
	case t != "":
		return errors.New(t)
	}
	return exit
}

// watchMemory kills the child when its resident memory passes
// MaxResidentBytes: the child's own watch failed to stop it in time.
func (c *localChild) watchMemory() {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.exited:
			return
		case <-t.C:
			if rss, ok := residentBytes(c.cmd.Process.Pid); ok && rss > c.cfg.MaxResidentBytes {
				c.oom.Store(rss)
				_ = c.cmd.Process.Kill()
				return
			}
		}
	}
}

// run tells the child to run the prepared plan and follows it to its end:
// progress and external scenarios go to out, ctx's end becomes a stop (hard
// when its cause is scenarios.ErrHardStop), and the child's result is the
// run's. A child that ends without one fails the run.
func (c *child) run(ctx context.Context, out *liveRun, logger *slog.Logger, dial dialRule, grace time.Duration) (loadtest.Result, error) {
	defer c.kill()
	if err := c.send(sandboxCmd{Run: &dial}); err != nil {
		c.kill()
		return loadtest.Result{}, c.failure(fmt.Errorf("sandbox: %w", err))
	}
	scaled := make(chan sandboxScaled, 1)
	done := ctx.Done()
	var deadline <-chan time.Time
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return loadtest.Result{}, c.failure(errors.New("the test's process ended without a result"))
			}
			switch {
			case m.Progress != nil:
				out.Progress(*m.Progress)
			case m.External != nil:
				for _, name := range m.External {
					out.setExternal(name, remoteScaler{c, name, scaled})
				}
			case m.Scaled != nil:
				select {
				case scaled <- *m.Scaled:
				default: // nobody waits: the request gave up
				}
			case m.Result != nil:
				var err error
				if m.Result.Error != "" {
					err = errors.New(m.Result.Error)
				}
				return m.Result.Result, err
			case m.Failure != "":
				logger.Warn("the test's process failed", "failure", m.Failure)
				return loadtest.Result{}, errors.New(m.Failure)
			}
		case <-done:
			done = nil
			cause := context.Cause(ctx)
			_ = c.send(sandboxCmd{Stop: &sandboxStop{Cause: cause.Error(), Hard: errors.Is(cause, scenarios.ErrHardStop)}})
			// The child stops within gracefulStop; this bounds one that
			// does not.
			t := time.NewTimer(grace)
			defer t.Stop()
			deadline = t.C
		case <-deadline:
			c.proc.Kill()
			deadline = nil
		}
	}
}

// stopGrace is how long a stopped child may take to send its result: the
// plan's longest gracefulStop, and time to write the result.
func stopGrace(plan loadtest.Plan) time.Duration {
	var grace time.Duration
	for _, sc := range plan.Scenarios {
		grace = max(grace, sc.Base().GracefulStopOrDefault())
	}
	return grace + 15*time.Second
}

// remoteScaler sets the VUs of an externally-controlled scenario in a
// sandbox child.
type remoteScaler struct {
	c        *child
	scenario string
	scaled   chan sandboxScaled
}

func (r remoteScaler) SetVUs(vus int64) error {
	r.c.scaleMu.Lock()
	defer r.c.scaleMu.Unlock()
	select {
	case <-r.scaled: // a late answer to a request that gave up
	default:
	}
	if err := r.c.send(sandboxCmd{Scale: &sandboxScale{Scenario: r.scenario, VUs: vus}}); err != nil {
		return fmt.Errorf("scenario %s: the test's process: %w", r.scenario, err)
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case got := <-r.scaled:
		switch {
		case got.Error == "":
			return nil
		case got.Invalid:
			return fmt.Errorf("%s: %w", got.Error, scenarios.ErrVUsOutOfRange)
		}
		return fmt.Errorf("%s: %w", got.Error, scenarios.ErrNotRunning)
	case <-t.C:
		return fmt.Errorf("scenario %s: the test's process did not answer: %w", r.scenario, scenarios.ErrNotRunning)
	}
}

// tailBuffer keeps the last max bytes written to it. It is safe for
// concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
