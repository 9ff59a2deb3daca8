package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"testing/fstest"
	"time"

	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// errMemoryLimit ends a sandboxed test whose heap passes its limit.
var errMemoryLimit = errors.New("the test used more memory than its limit")

// ChildOptions configure the child side of a [Sandbox].
type ChildOptions struct {
	// Logger receives the script's logs; nil discards them.
	Logger *slog.Logger
	// Modules are the k6/x/ extensions scripts may import, as
	// Config.Modules.
	Modules map[string]js.Module
}

// ServeSandbox is the child side of [Sandbox]: it reads a job from in,
// runs the script's init code and reports the plan on out, runs the test
// when the agent says so, reporting its progress, and sends its result.
// It stops the test when the agent says so or when in ends (the agent is
// gone), and fails it when the heap passes the job's memory limit. On
// Linux with Landlock it first confines the process and executes it
// again (os.Args, with its environment and a mark of its own), so call it
// before the program does anything it would not redo. The loadlens
// binary's hidden "sandbox" command calls it; it is not for other uses.
func ServeSandbox(ctx context.Context, in io.Reader, out io.Writer, o ChildOptions) error {
	if err := confineSelf(); err != nil {
		return fmt.Errorf("sandbox confinement: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dec := json.NewDecoder(in)
	var first sandboxCmd
	if err := dec.Decode(&first); err != nil || first.Job == nil {
		return fmt.Errorf("sandbox: want a job first: %v", err)
	}
	job := first.Job
	w := &msgWriter{enc: json.NewEncoder(out)}
	if err := applyLimits(job); err != nil {
		return w.send(sandboxMsg{Failure: "sandbox limits: " + err.Error()})
	}
	// Room for garbage above the live limit, so that collection does not
	// thrash (a script just under its limit would crawl) yet keeps the
	// process well inside the agent's kill threshold.
	debug.SetMemoryLimit(2 * job.MemoryBytes)
	runtime.GOMAXPROCS(job.Procs)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { watchHeap(ctx, job.MemoryBytes, cancel) })

	// The agent's commands after the job: run, stop, scale.
	runs := make(chan dialRule, 1)
	stops := make(chan sandboxStop, 1)
	scales := make(chan sandboxScale, 1)
	readerDone := make(chan struct{})
	wg.Go(func() {
		defer close(readerDone)
		for {
			var cmd sandboxCmd
			if err := dec.Decode(&cmd); err != nil {
				// The agent is gone, or done with this child.
				cancel(fmt.Errorf("the agent closed the sandbox: %w", scenarios.ErrHardStop))
				return
			}
			switch {
			case cmd.Run != nil:
				runs <- *cmd.Run
			case cmd.Stop != nil:
				select {
				case stops <- *cmd.Stop:
				default:
				}
			case cmd.Scale != nil:
				scales <- *cmd.Scale
			}
		}
	})

	files := fstest.MapFS{}
	for name, data := range job.Files {
		files[name] = &fstest.MapFile{Data: data, Mode: 0o444}
	}
	hosts := &Server{cfg: Config{Modules: o.Modules, LookupHost: func(ctx context.Context, host string) ([]netip.Addr, error) {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}}}
	plan, warnings, err := scriptPlan(ctx, startRequest{spec: job.Spec, files: files, modules: job.Modules}, job.AllowedHosts, job.InitTimeout, hosts)
	if err != nil {
		if err := w.send(planFailure(err, context.Cause(ctx), job.MemoryBytes)); err != nil {
			return err
		}
		return waitAgent(ctx, readerDone)
	}
	if err := w.send(sandboxMsg{Plan: &sandboxPlan{Echo: plan.Echo(), Warnings: warnings}}); err != nil {
		return err
	}
	var dial dialRule
	select {
	case dial = <-runs:
	case <-ctx.Done():
		return waitAgent(ctx, readerDone)
	}

	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	wg.Go(func() {
		select {
		case st := <-stops:
			cause := errors.New(st.Cause)
			if st.Hard {
				cause = fmt.Errorf("%s: %w", st.Cause, scenarios.ErrHardStop)
			}
			stopRun(cause)
		case <-runCtx.Done():
		}
	})
	report := &sandboxOutput{w: w}
	wg.Go(func() { report.serveScales(runCtx, scales) })
	plan.Logger = logger
	plan.Options.AllowIP = dial.allow()
	plan.Options.RedactURLs = true
	res, err := loadtest.Run(runCtx, plan, report)
	if errors.Is(context.Cause(ctx), errMemoryLimit) {
		err = fmt.Errorf("%w: its heap passed %d MiB", errMemoryLimit, job.MemoryBytes>>20)
	}
	r := &sandboxResult{Result: res}
	if err != nil {
		r.Error = err.Error()
	}
	if b, mErr := json.Marshal(res); mErr == nil && job.MaxResult > 0 && int64(len(b)) > job.MaxResult {
		r = &sandboxResult{Error: fmt.Sprintf("run: its result takes %s, more than the agent keeps (%s): "+
			"use fewer custom metrics, checks and groups", loadtest.FormatBytes(float64(len(b))), loadtest.FormatBytes(float64(job.MaxResult)))}
	}
	if err := w.send(sandboxMsg{Result: r}); err != nil {
		return err
	}
	stopRun(nil)
	return waitAgent(ctx, readerDone)
}

// waitAgent waits for the agent to close the child's input, so that the
// command reader ends before ServeSandbox returns.
func waitAgent(ctx context.Context, readerDone <-chan struct{}) error {
	select {
	case <-readerDone:
	case <-ctx.Done():
		<-readerDone
	}
	return nil
}

// planFailure is the message for a plan that could not be made: the
// problems of a 400 (the script's errors, its memory or time), or a failure.
func planFailure(err, cause error, limit int64) sandboxMsg {
	var bad *badRequest
	switch {
	case errors.Is(cause, errMemoryLimit) || errors.Is(err, errMemoryLimit):
		return sandboxMsg{Problems: []string{fmt.Sprintf("script: its init code used more than %d MiB of memory, the agent's limit for a test", limit>>20)}}
	case errors.As(err, &bad):
		return sandboxMsg{Problems: bad.problems}
	case errors.Is(err, loadtest.ErrInvalidPlan):
		return sandboxMsg{Problems: problems(err)}
	}
	return sandboxMsg{Failure: err.Error()}
}

// watchHeap cancels ctx with errMemoryLimit once the live heap (what the
// last collection kept: the script's own) passes limit.
func watchHeap(ctx context.Context, limit int64, cancel context.CancelCauseFunc) {
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rtmetrics.Read(sample)
			if sample[0].Value.Kind() == rtmetrics.KindUint64 && int64(sample[0].Value.Uint64()) > limit {
				cancel(fmt.Errorf("%w: %w", errMemoryLimit, scenarios.ErrHardStop))
				return
			}
		}
	}
}

// msgWriter sends messages to the agent, one at a time.
type msgWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *msgWriter) send(m sandboxMsg) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enc.Encode(m)
}

// sandboxOutput reports a sandboxed run to the agent: its
// externally-controlled scenarios and its progress.
type sandboxOutput struct {
	w        *msgWriter
	mu       sync.Mutex
	external map[string]*scenarios.ExternalExecutor
}

var (
	_ loadtest.Output           = (*sandboxOutput)(nil)
	_ loadtest.ProgressReceiver = (*sandboxOutput)(nil)
)

func (o *sandboxOutput) Start(info loadtest.RunInfo) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var names []string
	for name, e := range info.Executors {
		if x, ok := e.(*scenarios.ExternalExecutor); ok {
			if o.external == nil {
				o.external = map[string]*scenarios.ExternalExecutor{}
			}
			o.external[name] = x
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return o.w.send(sandboxMsg{External: names})
}

func (o *sandboxOutput) AddSamples([]metrics.Sample) {}
func (o *sandboxOutput) Stop(loadtest.Result) error  { return nil }

func (o *sandboxOutput) Progress(snap loadtest.Snapshot) { _ = o.w.send(sandboxMsg{Progress: &snap}) }

// serveScales applies the agent's scale commands until ctx ends.
func (o *sandboxOutput) serveScales(ctx context.Context, scales <-chan sandboxScale) {
	for {
		select {
		case <-ctx.Done():
			return
		case sc := <-scales:
			o.mu.Lock()
			e := o.external[sc.Scenario]
			o.mu.Unlock()
			got := sandboxScaled{Scenario: sc.Scenario}
			if e == nil {
				got.Error, got.Invalid = fmt.Sprintf("scenario: no externally-controlled scenario %q", sc.Scenario), true
			} else if err := e.SetVUs(sc.VUs); err != nil {
				got.Error, got.Invalid = err.Error(), errors.Is(err, scenarios.ErrVUsOutOfRange)
			}
			_ = o.w.send(sandboxMsg{Scaled: &got})
		}
	}
}
