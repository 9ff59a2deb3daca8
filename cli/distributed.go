package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats.go"
	flag "github.com/spf13/pflag"

	"github.com/loadlens/loadlens/distributed"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/service"
)

// distFlags are the flags of a distributed run, on run and coordinator.
type distFlags struct {
	runners     int
	weights     string
	natsURL     string
	listen      string
	runID       string
	onLoss      string
	joinTimeout time.Duration
	archive     string // coordinator: the test comes from an archive (a Kubernetes ConfigMap)
	runnerOut   bool   // run: local runners also write their own --out files
}

// runOnlyFlags are not passed on to runners: they shape the run (and its
// Kubernetes manifests), not the plan.
var runOnlyFlags = map[string]bool{"runners": true, "runner-weights": true, "nats": true, "listen": true,
	"run-id": true, "on-runner-loss": true, "join-timeout": true, "archive": true,
	"runner-out": true, "image": true, "name": true, "namespace": true, "runner-cpu": true, "runner-memory": true, "output": true}

func (d *distFlags) register(fs *flag.FlagSet, coordinator bool) {
	fs.IntVar(&d.runners, "runners", 0, "run on N runners coordinated over NATS (run: N local runner processes)")
	fs.StringVar(&d.weights, "runner-weights", "", "relative capacity of each runner, e.g. 1,2,1: unequal execution segments")
	fs.StringVar(&d.natsURL, "nats", "", "NATS server (with JetStream) to coordinate over; default an embedded one")
	listen := "127.0.0.1:0"
	if coordinator {
		listen = "0.0.0.0:4222"
	}
	fs.StringVar(&d.listen, "listen", listen, "address of the embedded NATS server, when there is no --nats")
	fs.StringVar(&d.runID, "run-id", "", "the run's id, which runners join (default: a random one)")
	fs.StringVar(&d.onLoss, "on-runner-loss", string(distributed.LossAbort), "when a runner is lost: abort the run, or continue without it")
	fs.DurationVar(&d.joinTimeout, "join-timeout", distributed.DefaultJoinTimeout, "how long to wait for every runner to join")
	if !coordinator {
		fs.BoolVar(&d.runnerOut, "runner-out", false, "also write each local runner's own --out files, FILE.runner-N.EXT (the coordinator writes FILE, merged)")
	}
	if coordinator {
		fs.StringVar(&d.archive, "archive", "", "read the test from an archive (written by k8s render) instead of FILE")
	}
}

// sequence returns the execution segments of the runners.
func (d *distFlags) sequence() (scenarios.ExecutionSegmentSequence, error) {
	if d.weights == "" {
		return scenarios.EqualSegments(d.runners), nil
	}
	parts := strings.Split(d.weights, ",")
	if len(parts) != d.runners {
		return nil, fmt.Errorf("--runner-weights: %d weights for %d runners", len(parts), d.runners)
	}
	var total int64
	weights := make([]int64, len(parts))
	for i, p := range parts {
		w, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil || w < 1 || w > 1000 {
			return nil, fmt.Errorf("--runner-weights[%d]: want a whole number 1 … 1000, got %q", i, p)
		}
		weights[i], total = w, total+w
	}
	var bounds []string
	var acc int64
	bounds = append(bounds, "0")
	for _, w := range weights {
		acc += w
		bounds = append(bounds, fmt.Sprintf("%d/%d", acc, total))
	}
	return scenarios.ParseExecutionSegmentSequence(strings.Join(bounds, ","))
}

// testArchive is what runners rebuild the plan from: the command line's
// plan-shaping arguments, the K6_* environment and every file the plan
// read (test file, script, imports, open()ed files), by absolute path.
//
// It is this command's own minimal form, behind packTest and unpackTest,
// until `loadlens archive` (k6's archive format) can carry the same.
type testArchive struct {
	Version int               `json:"version"`
	Path    string            `json:"path"` // absolute
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env,omitempty"`
	Files   map[string][]byte `json:"files"`
}

const archiveVersion = 1

// recordingFS reads the OS and keeps a copy of every file read.
type recordingFS struct {
	base  fs.FS
	mu    sync.Mutex
	files map[string][]byte
}

func newRecordingFS() *recordingFS {
	return &recordingFS{base: os.DirFS("/"), files: map[string][]byte{}}
}

func (r *recordingFS) Open(name string) (fs.File, error) {
	data, err := r.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return fstest.MapFS{name: {Data: data}}.Open(name)
}

func (r *recordingFS) ReadFile(name string) ([]byte, error) {
	data, err := fs.ReadFile(r.base, name)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files[name] = data
	return data, nil
}

// fsName is an OS path as a name in a.files: absolute, slashes, no
// leading slash.
func fsName(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		abs = p
	}
	return strings.TrimPrefix(path.Clean(filepath.ToSlash(abs)), "/")
}

// readFile reads a test file from a.files, or the OS.
func (a *app) readFile(p string) ([]byte, error) {
	if a.files == nil {
		return os.ReadFile(p)
	}
	return fs.ReadFile(a.files, fsName(p))
}

// planArgs are the command line's arguments that shape the plan: all but
// the distributed run's own and the file.
func planArgs(fset *flag.FlagSet) []string {
	var args []string
	fset.Visit(func(fl *flag.Flag) {
		if runOnlyFlags[fl.Name] {
			return
		}
		if sv, ok := fl.Value.(flag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return args
}

// packTest loads the plan of file as `run` does, recording what it reads,
// and returns the plan with the archive runners rebuild it from.
func (a *app) packTest(ctx context.Context, file string, f *runFlags) (loadtest.Plan, []string, []byte, error) {
	rec := newRecordingFS()
	a.files = rec
	defer func() { a.files = nil }()
	plan, warnings, err := a.loadPlan(ctx, file, f)
	if err != nil {
		return plan, warnings, nil, err
	}
	arch := testArchive{Version: archiveVersion, Path: fsName(file), Args: planArgs(f.fs), Env: map[string]string{},
		Files: rec.files}
	for _, kv := range a.environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "K6_") {
			arch.Env[k] = v
		}
	}
	b, err := json.Marshal(arch)
	return plan, warnings, b, err
}

// unpackTest rebuilds the plan of an archive, as packTest's caller built
// it: the same arguments over the same files.
func (a *app) unpackTest(ctx context.Context, archive []byte) (loadtest.Plan, *runFlags, error) {
	var arch testArchive
	if err := json.Unmarshal(archive, &arch); err != nil {
		return loadtest.Plan{}, nil, fmt.Errorf("archive: %w", err)
	}
	if arch.Version != archiveVersion {
		return loadtest.Plan{}, nil, fmt.Errorf("archive: version %d, want %d", arch.Version, archiveVersion)
	}
	files := fstest.MapFS{}
	for name, data := range arch.Files {
		files[name] = &fstest.MapFile{Data: data}
	}
	f := newRunFlags("run")
	var d distFlags
	d.register(f.fs, false)
	if err := f.fs.Parse(arch.Args); err != nil {
		return loadtest.Plan{}, nil, fmt.Errorf("archive: arguments: %w", err)
	}
	f.remoteModules = true
	f.offline = true // the coordinator fetched them; the archive has no network promise
	b := *a
	b.files = files
	b.getenv = func(k string) string {
		if v, ok := arch.Env[k]; ok {
			return v
		}
		return a.getenv(k)
	}
	plan, _, err := b.loadPlan(ctx, "/"+arch.Path, f)
	return plan, f, err
}

// runDistributed is `run --runners N` (local runner processes) and
// `coordinator` (runners started elsewhere).
func (a *app) runDistributed(ctx context.Context, file string, f *runFlags, d *distFlags, local bool) int {
	var plan loadtest.Plan
	var warnings []string
	var archive []byte
	var err error
	if d.archive != "" {
		if archive, err = os.ReadFile(d.archive); err == nil {
			plan, f, err = a.unpackTest(ctx, archive)
		}
	} else {
		plan, warnings, archive, err = a.packTest(ctx, file, f)
	}
	if err != nil {
		return a.loadError(err)
	}
	seq, err := d.sequence()
	loss, lossErr := distributed.ParseLossPolicy(d.onLoss)
	if err := errors.Join(err, lossErr, f.applyTelemetry(&plan)); err != nil {
		return a.configError(loadtest.Invalid(err))
	}
	plan.Logger = a.logger(f.quietLogs, f.logFormat)
	for _, w := range warnings {
		plan.Logger.Warn(w)
	}

	url := d.natsURL
	if url == "" {
		host, port, err := net.SplitHostPort(d.listen)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return a.configError(fmt.Errorf("%w: --listen: want HOST:PORT, got %q", loadtest.ErrInvalidPlan, d.listen))
		}
		srv, err := distributed.StartServer(ctx, distributed.ServerOptions{Host: host, Port: p})
		if err != nil {
			fmt.Fprintf(a.stderr, "loadlens: %v\n", err)
			return exitGenericError
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
	}
	nc, err := nats.Connect(url, nats.Name("loadlens coordinator"))
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens: nats: %v\n", err)
		return exitGenericError
	}
	defer nc.Close()
	runID := d.runID
	if runID == "" {
		runID = distributed.NewRunID()
	}
	coord := &distributed.Coordinator{Conn: nc, URL: url, RunID: runID, Runners: d.runners, Sequence: seq,
		Archive: archive, JoinTimeout: d.joinTimeout, StopGrace: longestGracefulStop(plan.Scenarios),
		OnRunnerLoss: loss, Logger: plan.Logger, ForwardSamples: len(f.out) > 0}
	if local {
		var runnerOut []string
		if d.runnerOut {
			runnerOut = f.out
		}
		coord.Launcher = distributed.Local{Command: a.runnerCommand(runnerOut)}
	} else {
		fmt.Fprintf(a.stderr, "loadlens: coordinating run %s at %s: start %d runners with `loadlens runner --nats URL --run %s`\n",
			runID, url, d.runners, runID)
	}
	plan.Remote = coord
	_, code := a.execute(ctx, plan, f, filepath.Base(file))
	for _, s := range coord.Stats() {
		plan.Logger.Info("runner", "index", s.Index, "host", s.Host, "clock_offset", s.ClockOffset, "rtt", s.RTT,
			"partials", s.Partials, "bytes", s.Bytes, "lost", s.Lost)
	}
	return code
}

func longestGracefulStop(scs scenarios.Scenarios) time.Duration {
	longest := time.Duration(0)
	for _, sc := range scs {
		longest = max(longest, sc.Base().GracefulStopOrDefault())
	}
	return longest
}

// runnerCommand starts a local runner: this binary's `runner`, writing
// outs as runner-N files of its own.
func (a *app) runnerCommand(outs []string) func(url, runID string, index int) *exec.Cmd {
	return func(url, runID string, index int) *exec.Cmd {
		executable := a.executable
		if executable == nil {
			executable = os.Executable
		}
		self, err := executable()
		if err != nil {
			self = os.Args[0]
		}
		args := []string{"runner", "--nats", url, "--run", runID, "--index", strconv.Itoa(index)}
		for _, o := range outs {
			args = append(args, "--out", runnerOutput(o, index))
		}
		cmd := exec.Command(self, args...)
		cmd.Stderr = a.stderr
		return cmd
	}
}

// runnerOutput names runner index's file of an --out value: out.json →
// out.runner-2.json.
func runnerOutput(spec string, index int) string {
	kind, file, ok := strings.Cut(spec, "=")
	if !ok || file == "" || file == "-" {
		return spec
	}
	ext := ""
	for _, e := range []string{".gz", ".json", ".csv", ".ndjson"} {
		if strings.HasSuffix(file, e) {
			ext = e + ext
			file = strings.TrimSuffix(file, e)
		}
	}
	return fmt.Sprintf("%s=%s.runner-%d%s", kind, file, index, ext)
}

// coordinator is `loadlens coordinator [flags] FILE`.
func (a *app) coordinator(ctx context.Context, args []string) int {
	f := newRunFlags("coordinator")
	var d distFlags
	d.register(f.fs, true)
	usage := "loadlens coordinator --runners N [flags] FILE.json|FILE.js\n\n" +
		"Coordinates a distributed run: N runners (`loadlens runner`) join it over NATS."
	if code, done := a.parseFlags(f.fs, usage, args); done {
		return code
	}
	if d.runners < 1 || (f.fs.NArg() != 1) == (d.archive == "") {
		f.fs.Usage()
		return exitUsage
	}
	return a.runDistributed(ctx, f.fs.Arg(0), f, &d, false)
}

// runner is `loadlens runner --nats URL --run ID [--index N]`, or
// `loadlens runner --nats URL --pool`.
func (a *app) runner(ctx context.Context, args []string) int {
	fset := flag.NewFlagSet("runner", flag.ContinueOnError)
	url := fset.String("nats", "", "the run's NATS server (required)")
	runID := fset.String("run", "", "the run's id (required, but with --pool)")
	index := fset.Int("index", -1, "this runner's slot; default $JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), else any free one")
	outs := fset.StringArrayP("out", "o", nil, "this runner's own output: json=FILE or csv=FILE")
	joinTimeout := fset.Duration("join-timeout", distributed.DefaultJoinTimeout, "how long to wait for the coordinator")
	pool := fset.Bool("pool", false, "serve the runner pool of agents started with `serve --nats URL`: run their tenants' tests, until SIGINT or SIGTERM")
	slots := fset.Int("slots", 1, "with --pool: how many tests to run at once")
	sandboxMemory := fset.Int64("sandbox-memory-mib", 1024, "with --pool: a test's memory limit as the agent sets it, MiB; its process is killed at 3 times that resident")
	sandboxNice := fset.Int("sandbox-nice", 10, "with --pool: the CPU niceness, 1 … 19, of a tenant's one sandboxed test (each of a tenant's k tests runs log1.25(k) steps nicer, so that tenants weigh the same)")
	if code, done := a.parseFlags(fset, "loadlens runner --nats URL --run ID [flags]\n       loadlens runner --nats URL --pool [flags]", args); done {
		return code
	}
	if *pool {
		if *url == "" {
			fmt.Fprintln(a.stderr, "loadlens runner: --nats is required")
			return exitUsage
		}
		if *sandboxNice < 1 || *sandboxNice > 19 {
			fmt.Fprintf(a.stderr, "loadlens runner: --sandbox-nice: want 1 … 19, got %d\n", *sandboxNice)
			return exitUsage
		}
		return a.poolRunner(ctx, *url, *slots, service.Sandbox{MemoryBytes: *sandboxMemory << 20, Nice: *sandboxNice})
	}
	if *url == "" || *runID == "" {
		fmt.Fprintln(a.stderr, "loadlens runner: --nats and --run are required")
		return exitUsage
	}
	if !fset.Changed("index") {
		if v := a.getenv("JOB_COMPLETION_INDEX"); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(a.stderr, "loadlens runner: JOB_COMPLETION_INDEX: %v\n", err)
				return exitUsage
			}
			*index = i
		}
	}
	log := a.logger(true, logFormatText)
	// A runner may start before its coordinator's NATS server (a Kubernetes
	// Job's pods start in any order): the join timeout bounds the wait.
	nc, err := nats.Connect(*url, nats.Name("loadlens runner"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens runner: nats: %v\n", err)
		return exitGenericError
	}
	defer nc.Close()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	r := &distributed.Runner{Conn: nc, RunID: *runID, Index: *index, JoinTimeout: *joinTimeout, Logger: log,
		Build: func(ctx context.Context, archive []byte, _ distributed.Assignment) (loadtest.Plan, []loadtest.Output, error) {
			plan, _, err := a.unpackTest(ctx, archive)
			if err != nil {
				return plan, nil, err
			}
			plan.Logger = log
			var outputs []loadtest.Output
			for _, o := range *outs {
				out, c, err := a.openOutput(o)
				if err != nil {
					return plan, nil, fmt.Errorf("--out %s: %w", o, err)
				}
				outputs = append(outputs, out)
				if c != nil {
					closers = append(closers, func() { _ = c.Close() })
				}
			}
			return plan, outputs, nil
		}}
	ctx, stop := a.signalContext(ctx)
	defer stop()
	_, err = r.Run(ctx)
	switch {
	case errors.Is(err, distributed.ErrCoordinatorLost):
		fmt.Fprintf(a.stderr, "loadlens runner: %v: stopped by itself\n", err)
		return exitExternalAbort
	case err != nil:
		fmt.Fprintf(a.stderr, "loadlens runner: %v\n", err)
		return exitGenericError
	}
	return exitOK
}

// poolRunner is `loadlens runner --pool`: each test an agent's pool hands
// it runs in a sandbox child of this machine, with the agent's limits.
func (a *app) poolRunner(ctx context.Context, url string, slots int, limits service.Sandbox) int {
	exe, err := a.executable()
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens runner: the sandbox needs this program's path: %v\n", err)
		return exitGenericError
	}
	sb := &limits
	sb.Command = []string{exe, "sandbox"}
	nc, err := nats.Connect(url, nats.Name("loadlens pool runner"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		fmt.Fprintf(a.stderr, "loadlens runner: nats: %v\n", err)
		return exitGenericError
	}
	defer nc.Close()
	ctx, stop := a.signalContext(ctx)
	defer stop()
	r := &distributed.PoolRunner{Conn: nc, Slots: slots, Logger: a.logger(true, logFormatText),
		Start: func(ctx context.Context) (distributed.Process, error) { return sb.StartChild(ctx) }}
	if err := r.Run(ctx); err != nil {
		fmt.Fprintf(a.stderr, "loadlens runner: %v\n", err)
		return exitGenericError
	}
	return exitOK
}
