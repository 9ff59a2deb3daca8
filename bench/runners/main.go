// Command runners measures what a distributed run costs on one machine:
// CPU per request of `loadlens run --runners N` (a coordinator with an
// embedded NATS server and N local runner processes) against
// `loadlens run` (one process), and against N plain `loadlens run`
// processes side by side with a share of the load each (no coordination:
// what splitting the load over N processes on this machine costs by
// itself, the floor of any multi-process mode here).
//
// The same test against the same loopback target, the modes interleaved
// (their order turns from run to run), -runs times each, so that every
// ratio comes from one run. CPU is user + system of each process tree
// (the coordinator reaps its runners), so the coordinator and its NATS
// server are counted; requests are the summaries' http_reqs. The target
// runs on -target-cpu, the generators on -generator-cpu (taskset).
//
// While a mode runs, every thread's CPU time of its processes is sampled
// every -sample (/proc/PID/task/TID/schedstat), and each process's CPU is
// split into phases: start (process start to joining the run; for a
// plain process, to its run's start), init (join to ready: archive, plan,
// VUs, clock), barrier (ready to the common start), run (the scenario's
// duration) and end (its end to the process's exit: last partial, merge,
// summary, analysis). The steady cost per request is the CPU of the run's
// middle (its first and last second left out) per request; the fixed cost
// is the rest, what the run costs beyond its steady rate. The report
// states both and what the fixed cost adds at a few run lengths. Each run
// also says how much of the generators' CPU went to other processes and
// to the hypervisor (steal), from /proc/stat: a busy neighbour shows
// there, not only in the load average.
//
// The test runs constant-arrival-rate -rate/s, so that every mode does
// the same requests and only the CPU differs; a mode that falls more than
// 10 % short of the plan fails the benchmark (lower -rate). -rate 0 runs
// constant-vus instead, each mode as fast as it goes: closed-loop numbers
// swing by ±25 % from run to run here, as a generator's CPU per request
// depends on how busy it is and each mode reaches its own rate.
//
// -profile DIR builds with -tags pprof and keeps every process's CPU
// profile there.
//
//	go run ./bench/runners -runs 5
//	go run ./bench/runners -rate 2000 -duration 60s -runs 5
//	go run ./bench/runners -runs 5 -profile /tmp/runners-prof
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "runners:", err)
		os.Exit(1)
	}
}

type mode struct {
	name      string
	args      []string
	processes int
	test      string // the test file of each process
	runners   bool   // a coordinator and its runners
}

// The phases of a process, in order.
var phaseNames = []string{"start", "init", "barrier", "run", "end"}

const phases = 5

// measurement is one run of a mode.
type measurement struct {
	requests float64
	cpu      time.Duration // every process tree, from the kernel's accounts at exit
	// steady is the CPU per request of the run's middle, µs.
	steady float64
	// phases is each process's CPU per phase, by role (coordinator,
	// runner N, process N); unsampled is what the samples missed (the
	// last moments of each process).
	phases    map[string][phases]time.Duration
	unsampled time.Duration
	wireBytes int64 // what the coordinator received from its runners
	// foreign is the generator CPUs' busy time that none of the mode's
	// processes account for (another process, the kernel's own work),
	// steal what the hypervisor took from them: both disturb the run.
	// Runs with seconds of foreign time measure the neighbour as much as
	// the mode.
	foreign, steal time.Duration
}

// fixed is the CPU beyond the steady rate.
func (m measurement) fixed() time.Duration {
	return m.cpu - time.Duration(m.steady*m.requests)*time.Microsecond
}

func run() error {
	runs := flag.Int("runs", 3, "runs of each mode (medians are reported)")
	runners := flag.Int("runners", 2, "runners of the distributed mode")
	vus := flag.Int("vus", 20, "VUs of the test (with -rate: pre-allocated VUs)")
	rate := flag.Int("rate", 12000, "requests per second (constant-arrival-rate); 0 runs constant-vus, as fast as each mode goes")
	duration := flag.Duration("duration", 10*time.Second, "length of each run (at least 3 s: the steady window leaves out its first and last second)")
	sample := flag.Duration("sample", 10*time.Millisecond, "how often the processes' CPU is sampled around the phases' bounds (every 200 ms in between)")
	genCPU := flag.String("generator-cpu", "0", "CPU list of the generators (taskset)")
	tgtCPU := flag.String("target-cpu", "1", "CPU list of the target (taskset)")
	first := flag.Int("first", 0, "the mode run first in the first run, 0 … 2 (1 process, runners, plain); separate invocations of -runs 1 can turn the order too")
	profile := flag.String("profile", "", "keep each process's CPU profile in this folder (a -tags pprof build)")
	flag.Parse()
	if *duration < 3*time.Second {
		return fmt.Errorf("-duration %s: want at least 3s", *duration)
	}
	if *first < 0 || *first > 2 {
		return fmt.Errorf("-first %d: want 0, 1 or 2", *first)
	}
	if err := pinSelf(*tgtCPU); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "loadlens-runners-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "loadlens")
	build := []string{"build", "-o", bin}
	if *profile != "" {
		build = append(build, "-tags", "pprof")
	}
	if out, err := exec.Command("go", append(build, "./cmd/loadlens")...).CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}

	// The target: loadlens's own demo target, on its own CPU.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	_ = l.Close()
	tgt := exec.Command("taskset", "-c", *tgtCPU, bin, "target", "--addr", addr)
	if err := tgt.Start(); err != nil {
		return err
	}
	defer func() { _ = tgt.Process.Kill(); _ = tgt.Wait() }()
	if err := waitHTTP("http://" + addr + "/"); err != nil {
		return err
	}

	writeTest := func(name string, scenario map[string]any) (string, error) {
		test := map[string]any{"name": "overhead", "target": map[string]any{"base_url": "http://" + addr, "endpoints": []string{"/"}},
			"options": map[string]any{"scenarios": map[string]any{"s": scenario}}}
		b, err := json.Marshal(test)
		if err != nil {
			return "", err
		}
		file := filepath.Join(dir, name)
		return file, os.WriteFile(file, b, 0o644)
	}
	scenario := func(share int) map[string]any {
		if *rate > 0 {
			return map[string]any{"executor": "constant-arrival-rate", "rate": *rate / share, "timeUnit": "1s",
				"duration": duration.String(), "preAllocatedVUs": *vus / share}
		}
		return map[string]any{"executor": "constant-vus", "vus": *vus / share, "duration": duration.String()}
	}
	whole, err := writeTest("whole.json", scenario(1))
	if err != nil {
		return err
	}
	share, err := writeTest("share.json", scenario(*runners))
	if err != nil {
		return err
	}

	modes := []mode{
		{"1 process", nil, 1, whole, false},
		{fmt.Sprintf("%d runners", *runners), []string{"--runners", strconv.Itoa(*runners)}, 1, whole, true},
		{fmt.Sprintf("%d plain", *runners), nil, *runners, share, false},
	}
	fmt.Printf("test: %s for %s against %s; generators on CPU %s, target on CPU %s\n",
		describe(*rate, *vus), *duration, addr, *genCPU, *tgtCPU)
	fmt.Printf("load average at the start: %s\n\n", loadAverage())
	results := map[string][]measurement{}
	for i := range *runs {
		for k := range modes {
			m := modes[(*first+i+k)%len(modes)] // each mode first, second and last in turn
			profDir := ""
			if *profile != "" {
				profDir = filepath.Join(*profile, fmt.Sprintf("run%d-%s", i+1, strings.ReplaceAll(m.name, " ", "-")))
			}
			r, err := measure(bin, *genCPU, dir, m, *duration, *sample, profDir)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if planned := float64(*rate) * duration.Seconds(); *rate > 0 && r.requests < 0.9*planned {
				return fmt.Errorf("%s: %.0f requests, %.0f planned: the generators did not keep -rate %d; lower it",
					m.name, r.requests, planned, *rate)
			}
			results[m.name] = append(results[m.name], r)
			fmt.Printf("run %d %-10s %8.0f requests %6.2f CPU-s %6.2f µs/request, steady %6.2f, fixed %5.2f CPU-s%s; "+
				"on CPU %s: %.2f CPU-s of others, %.2f stolen; load %s\n",
				i+1, m.name, r.requests, r.cpu.Seconds(), usPer(r.cpu, r.requests), r.steady, r.fixed().Seconds(),
				r.detail(*duration, *runners), *genCPU, r.foreign.Seconds(), r.steal.Seconds(), loadAverage())
			if m.runners {
				printPhases(os.Stdout, "      ", r)
			}
		}
	}

	fmt.Printf("\nmedians of %d runs of %s (CPU of every process: generators, coordinator, NATS)\n", *runs, *duration)
	fmt.Printf("%-10s %9s %10s %12s %12s %16s\n", "mode", "processes", "requests", "µs/request", "fixed CPU-s", "steady µs/req")
	type summary struct{ perReq, fixed, steady float64 }
	sums := map[string]summary{}
	for _, m := range modes {
		var perReq, fix, steady, reqs []float64
		for _, r := range results[m.name] {
			perReq = append(perReq, usPer(r.cpu, r.requests))
			fix = append(fix, r.fixed().Seconds())
			steady = append(steady, r.steady)
			reqs = append(reqs, r.requests)
		}
		s := summary{median(perReq), median(fix), median(steady)}
		sums[m.name] = s
		procs := strconv.Itoa(m.processes)
		if m.runners {
			procs = fmt.Sprintf("1+%d", *runners)
		}
		fmt.Printf("%-10s %9s %10.0f %12.2f %12.2f %16.2f\n", m.name, procs, median(reqs), s.perReq, s.fixed, s.steady)
	}
	for _, m := range modes {
		fmt.Printf("\n%s, CPU-s by process and phase (medians):\n", m.name)
		printPhases(os.Stdout, "  ", medianPhases(results[m.name]))
	}

	one, dist, plain := sums[modes[0].name], sums[modes[1].name], sums[modes[2].name]
	ratio := func(name string, a, b summary) {
		fmt.Printf("%-28s whole run %.2f× (%+.1f %% CPU per request), steady state %.2f× (%+.1f %%)\n",
			name, b.perReq/a.perReq, (a.perReq/b.perReq-1)*100, b.steady/a.steady, (a.steady/b.steady-1)*100)
	}
	fmt.Printf("\nrequests per CPU-second, the first mode's against the second's (ratios of medians):\n")
	ratio(modes[1].name+" / "+modes[0].name, dist, one)
	ratio(modes[2].name+" / "+modes[0].name, plain, one)
	ratio(modes[1].name+" / "+modes[2].name, dist, plain)
	fmt.Printf("(%s / %s is this machine's floor for any %d processes; %s / %s is the coordination itself)\n",
		modes[2].name, modes[0].name, *runners, modes[1].name, modes[2].name)
	fmt.Printf("\nthe same ratios run by run (modes measured next to each other), whole run:\n")
	for _, pair := range [][2]int{{1, 0}, {2, 0}, {1, 2}} {
		a, b := results[modes[pair[0]].name], results[modes[pair[1]].name]
		var rs []string
		for i := range a {
			rs = append(rs, fmt.Sprintf("%.2f", usPer(b[i].cpu, b[i].requests)/usPer(a[i].cpu, a[i].requests)))
		}
		fmt.Printf("  %-26s %s\n", modes[pair[0]].name+" / "+modes[pair[1]].name, strings.Join(rs, " "))
	}

	var rates []float64
	for _, r := range results[modes[0].name] {
		rates = append(rates, r.requests/duration.Seconds())
	}
	reqRate := median(rates)
	fmt.Printf("\nthe extra fixed cost of %s, %.2f CPU-s a run, against the CPU of %s at %.0f requests/s:\n",
		modes[1].name, dist.fixed-one.fixed, modes[0].name, reqRate)
	for _, d := range slices.Compact(slices.Sorted(slices.Values([]time.Duration{*duration, time.Minute, 10 * time.Minute}))) {
		steadyCPU := d.Seconds() * reqRate * one.steady / 1e6
		fmt.Printf("  a %s run: %.1f %% more CPU\n", d, (dist.fixed-one.fixed)/(one.fixed+steadyCPU)*100)
	}
	return nil
}

// pinnedEnv marks the harness once it runs on the target's CPUs.
const pinnedEnv = "LOADLENS_RUNNERS_BENCH_PINNED"

// pinSelf runs the harness again on cpus, the target's, under taskset:
// its sampling must not take CPU from the generators it measures.
func pinSelf(cpus string) error {
	if os.Getenv(pinnedEnv) != "" {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"taskset", "-c", cpus, self}, os.Args[1:]...)
	return syscall.Exec(taskset, args, append(os.Environ(), pinnedEnv+"=1"))
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func describe(rate, vus int) string {
	if rate > 0 {
		return fmt.Sprintf("constant-arrival-rate %d/s (%d VUs pre-allocated)", rate, vus)
	}
	return fmt.Sprintf("constant-vus %d", vus)
}

func usPer(cpu time.Duration, requests float64) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / requests
}

// detail is the bytes a runner sent, when known.
func (m measurement) detail(d time.Duration, runners int) string {
	if m.wireBytes == 0 {
		return ""
	}
	return fmt.Sprintf(" [%.1f kB/s a runner]", float64(m.wireBytes)/d.Seconds()/float64(runners)/1e3)
}

// printPhases writes a table of CPU-s by process and phase.
func printPhases(w *os.File, indent string, m measurement) {
	fmt.Fprintf(w, "%s%-12s", indent, "")
	for _, p := range phaseNames {
		fmt.Fprintf(w, " %8s", p)
	}
	fmt.Fprintf(w, " %8s\n", "total")
	roles := make([]string, 0, len(m.phases))
	for r := range m.phases {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	var sum [phases]time.Duration
	for _, r := range roles {
		fmt.Fprintf(w, "%s%-12s", indent, r)
		var total time.Duration
		for k, d := range m.phases[r] {
			fmt.Fprintf(w, " %8.3f", d.Seconds())
			total += d
			sum[k] += d
		}
		fmt.Fprintf(w, " %8.3f\n", total.Seconds())
	}
	fmt.Fprintf(w, "%s%-12s", indent, "all")
	var total time.Duration
	for _, d := range sum {
		fmt.Fprintf(w, " %8.3f", d.Seconds())
		total += d
	}
	fmt.Fprintf(w, " %8.3f  (+%.3f after the last samples)\n", total.Seconds(), m.unsampled.Seconds())
}

// medianPhases is the median of each process's phase across runs.
func medianPhases(ms []measurement) measurement {
	out := measurement{phases: map[string][phases]time.Duration{}}
	var unsampled []float64
	for _, m := range ms {
		unsampled = append(unsampled, m.unsampled.Seconds())
	}
	out.unsampled = time.Duration(median(unsampled) * float64(time.Second))
	for role := range ms[0].phases {
		var p [phases]time.Duration
		for k := range phases {
			var v []float64
			for _, m := range ms {
				v = append(v, m.phases[role][k].Seconds())
			}
			p[k] = time.Duration(median(v) * float64(time.Second))
		}
		out.phases[role] = p
	}
	return out
}

// measure runs mode m once: the test in each of its processes side by
// side. It returns their requests, the CPU time of their process trees
// and its phases.
func measure(bin, cpus, dir string, m mode, d, interval time.Duration, profDir string) (measurement, error) {
	var res measurement
	var cmds []*exec.Cmd
	var exports, results []string
	var logs []*bytes.Buffer
	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return res, err
		}
	}
	busy0, steal0, err := cpuTimes(cpus)
	if err != nil {
		return res, err
	}
	started := time.Now()
	var pids []int
	for i := range m.processes {
		export := filepath.Join(dir, fmt.Sprintf("summary-%d.json", i))
		result := filepath.Join(dir, fmt.Sprintf("result-%d.json", i))
		args := append([]string{"-c", cpus, bin, "run", "-q", "--log-format", "json", "--summary-export", export,
			"--result", result}, m.args...)
		cmd := exec.Command("taskset", append(args, m.test)...)
		if profDir != "" {
			cmd.Env = append(os.Environ(), "LOADLENS_PROFILE_DIR="+profDir)
		}
		log := &bytes.Buffer{}
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			return res, err
		}
		cmds, exports, results, logs = append(cmds, cmd), append(exports, export), append(results, result), append(logs, log)
		pids = append(pids, cmd.Process.Pid)
	}
	// Fine samples while the processes start (join, init and the start
	// lead take about a second) and from the run's end on.
	fine := func(elapsed time.Duration) bool { return elapsed < 3*time.Second || elapsed > d }
	smp := startSampler(interval, 200*time.Millisecond, fine, pids...)
	var waitErr error
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil && waitErr == nil {
			waitErr = fmt.Errorf("%w: %s", err, logs[i])
		}
	}
	procs := smp.finish()
	if waitErr != nil {
		return res, waitErr
	}
	busy1, steal1, err := cpuTimes(cpus)
	if err != nil {
		return res, err
	}
	var starts []time.Time
	for i, cmd := range cmds {
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		res.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		var s struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		if err := readJSON(exports[i], &s); err != nil {
			return res, err
		}
		res.requests += s.Metrics["http_reqs"]["count"]
		res.wireBytes += runnerBytes(logs[i].Bytes())
		var r struct {
			Result struct {
				Start time.Time `json:"start"`
			} `json:"result"`
		}
		if err := readJSON(results[i], &r); err != nil {
			return res, err
		}
		if r.Result.Start.IsZero() {
			return res, fmt.Errorf("%s: no start time", results[i])
		}
		starts = append(starts, r.Result.Start)
	}

	// Each process's phase bounds; the steady window is the run's middle.
	bounds := map[int][phases + 1]time.Time{}
	role := map[int]string{}
	var runStart, runEnd time.Time
	if m.runners {
		ev, err := coordinatorEvents(logs[0].Bytes())
		if err != nil {
			return res, err
		}
		runStart, runEnd = ev.start, ev.start.Add(d)
		coordinator := [...]time.Time{started, ev.firstJoin(), ev.lastReady(), runStart, runEnd, {}}
		for pid, p := range procs {
			switch {
			case pid == pids[0]:
				role[pid] = "coordinator"
				bounds[pid] = coordinator
			case len(p.args) > 1 && p.args[1] == "runner":
				i, err := strconv.Atoi(p.flag("index"))
				if err != nil || i < 0 || i >= len(ev.joined) {
					return res, fmt.Errorf("runner process %d: index %q", pid, p.flag("index"))
				}
				role[pid] = "runner " + strconv.Itoa(i)
				bounds[pid] = [...]time.Time{started, ev.joined[i], ev.ready[i], runStart, runEnd, {}}
			default: // not ours: counted, as everything in the tree is, with the coordinator's bounds
				role[pid] = fmt.Sprintf("other %d %q", pid, strings.Join(p.args, " "))
				bounds[pid] = coordinator
			}
		}
	} else {
		runStart, runEnd = slices.MaxFunc(starts, time.Time.Compare), slices.MinFunc(starts, time.Time.Compare).Add(d)
		for i, pid := range pids {
			role[pid] = "process " + strconv.Itoa(i)
			s := starts[i]
			bounds[pid] = [...]time.Time{started, s, s, s, s.Add(d), {}}
		}
	}
	res.phases = map[string][phases]time.Duration{}
	var sampled, window time.Duration
	w0, w1 := runStart.Add(time.Second), runEnd.Add(-time.Second)
	for pid, p := range procs {
		b, ok := bounds[pid]
		if !ok {
			return res, fmt.Errorf("process %d (%s) has no phases", pid, strings.Join(p.args, " "))
		}
		var ph [phases]time.Duration
		for k := range phases {
			from, to := p.cpuAt(b[k]), p.last()
			if !b[k+1].IsZero() {
				to = p.cpuAt(b[k+1])
			}
			ph[k] = max(to-from, 0)
		}
		res.phases[role[pid]] = ph
		sampled += p.last()
		window += p.cpuAt(w1) - p.cpuAt(w0)
	}
	res.unsampled = res.cpu - sampled
	// The kernel's per-CPU ticks and the processes' own accounts differ by
	// a little: a small negative foreign time is that difference.
	res.foreign, res.steal = busy1-busy0-res.cpu, steal1-steal0
	// Requests come at a constant rate: the window's share of them.
	res.steady = usPer(window, res.requests*w1.Sub(w0).Seconds()/d.Seconds())
	return res, nil
}

// events are the times of a distributed run's steps, from its
// coordinator's log.
type events struct {
	joined, ready []time.Time // by runner index
	start         time.Time   // the common start
}

func (e events) firstJoin() time.Time { return slices.MinFunc(e.joined, time.Time.Compare) }
func (e events) lastReady() time.Time { return slices.MaxFunc(e.ready, time.Time.Compare) }

// coordinatorEvents reads the coordinator's JSON log lines runner joined,
// runner ready and start order.
func coordinatorEvents(log []byte) (events, error) {
	var e events
	joined, ready := map[int]time.Time{}, map[int]time.Time{}
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		var line struct {
			Time   time.Time `json:"time"`
			Msg    string    `json:"msg"`
			Runner int       `json:"runner"`
			At     time.Time `json:"at"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "runner joined":
			joined[line.Runner] = line.Time
		case "runner ready":
			ready[line.Runner] = line.Time
		case "start order":
			e.start = line.At
		}
	}
	if e.start.IsZero() || len(joined) == 0 || len(joined) != len(ready) {
		return e, fmt.Errorf("coordinator log: %d runners joined, %d ready, start %v", len(joined), len(ready), e.start)
	}
	for i := range len(joined) {
		j, jok := joined[i]
		r, rok := ready[i]
		if !jok || !rok {
			return e, fmt.Errorf("coordinator log: runner %d did not join or get ready", i)
		}
		e.joined, e.ready = append(e.joined, j), append(e.ready, r)
	}
	return e, nil
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// runnerBytes adds up what the coordinator says its runners sent: its
// `runner` log lines.
func runnerBytes(log []byte) int64 {
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Bytes int64  `json:"bytes"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "runner" {
			total += line.Bytes
		}
	}
	return total
}

func waitHTTP(url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the target did not start: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a port, with a deadline
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
