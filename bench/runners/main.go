// Command runners measures what a distributed run costs on one machine:
// CPU per request of `loadlens run --runners N` (a coordinator with an
// embedded NATS server and N local runner processes) against
// `loadlens run` (one process), and against N plain `loadlens run`
// processes side by side with a share of the load each (no coordination:
// what splitting the load over N processes on this machine costs by
// itself, the floor of any multi-process mode here).
//
// The same test against the same loopback target, the modes interleaved,
// -runs times each, so that every ratio comes from one run. CPU is user +
// system of each process tree (the coordinator reaps its runners), so the
// coordinator and its NATS server are counted; requests are the
// summaries' http_reqs. The target runs on -target-cpu, the generators on
// -generator-cpu (taskset).
//
// Each mode's fixed cost (process starts, package initialisation, the
// NATS server, join, clock, start lead, teardown) is measured by a run of
// one iteration, and the steady cost per request is the rest: a run of
// T seconds costs fixed + T × rate × steady, so the report states both
// and what the fixed cost adds at a few run lengths.
//
// The test runs constant-arrival-rate -rate/s, so that every mode does
// the same requests and only the CPU differs; a mode that falls more than
// 10 % short of the plan fails the benchmark (lower -rate). -rate 0 runs
// constant-vus instead, each mode as fast as it goes: closed-loop numbers
// swing by ±25 % from run to run here, as a generator's CPU per request
// depends on how busy it is and each mode reaches its own rate.
//
// -profile DIR builds with -tags pprof, keeps every process's CPU profile
// and CPU time there, and reports the coordinator's share apart from its
// runners'.
//
//	go run ./bench/runners -runs 5
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
	fixedTest string // its one-iteration twin
}

// measurement is one run of a mode.
type measurement struct {
	requests float64
	cpu      time.Duration // every process tree
	// With -profile: the coordinator's own CPU (its NATS server
	// included) and its runners'; with --runners, what the coordinator
	// received from its runners.
	coordinatorCPU, runnersCPU time.Duration
	wireBytes                  int64
}

func run() error {
	runs := flag.Int("runs", 3, "runs of each mode (medians are reported)")
	runners := flag.Int("runners", 2, "runners of the distributed mode")
	vus := flag.Int("vus", 20, "VUs of the test (with -rate: pre-allocated VUs)")
	rate := flag.Int("rate", 12000, "requests per second (constant-arrival-rate); 0 runs constant-vus, as fast as each mode goes")
	duration := flag.Duration("duration", 10*time.Second, "length of each run")
	genCPU := flag.String("generator-cpu", "0", "CPU list of the generators (taskset)")
	tgtCPU := flag.String("target-cpu", "1", "CPU list of the target (taskset)")
	profile := flag.String("profile", "", "keep each process's CPU profile and CPU time in this folder (a -tags pprof build)")
	flag.Parse()

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
	once, err := writeTest("once.json", map[string]any{"executor": "shared-iterations", "vus": 1, "iterations": 1})
	if err != nil {
		return err
	}

	modes := []mode{
		{"1 process", nil, 1, whole, once},
		{fmt.Sprintf("%d runners", *runners), []string{"--runners", strconv.Itoa(*runners)}, 1, whole, once},
		{fmt.Sprintf("%d plain", *runners), nil, *runners, share, once},
	}
	load := func() string {
		b, _ := os.ReadFile("/proc/loadavg")
		return strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("test: %s for %s against %s; generators on CPU %s, target on CPU %s\n",
		describe(*rate, *vus), *duration, addr, *genCPU, *tgtCPU)
	fmt.Printf("load average at the start: %s\n\n", load())
	full, fixed := map[string][]measurement{}, map[string][]measurement{}
	for i := range *runs {
		for _, m := range modes {
			profDir := ""
			if *profile != "" {
				profDir = filepath.Join(*profile, fmt.Sprintf("run%d-%s", i+1, strings.ReplaceAll(m.name, " ", "-")))
			}
			f, err := measure(bin, *genCPU, dir, m.fixedTest, m.args, m.processes, "")
			if err != nil {
				return fmt.Errorf("%s, one iteration: %w", m.name, err)
			}
			fixed[m.name] = append(fixed[m.name], f)
			r, err := measure(bin, *genCPU, dir, m.test, m.args, m.processes, profDir)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if planned := float64(*rate) * duration.Seconds(); *rate > 0 && r.requests < 0.9*planned {
				return fmt.Errorf("%s: %.0f requests, %.0f planned: the generators did not keep -rate %d; lower it",
					m.name, r.requests, planned, *rate)
			}
			full[m.name] = append(full[m.name], r)
			fmt.Printf("run %d %-10s %8.0f requests %6.2f CPU-s %6.2f µs/request (one iteration: %.2f CPU-s)%s  load %s\n",
				i+1, m.name, r.requests, r.cpu.Seconds(), usPer(r.cpu, r.requests), f.cpu.Seconds(), r.detail(*duration, *runners), load())
		}
	}

	fmt.Printf("\nmedians of %d runs of %s (CPU of every process: generators, coordinator, NATS)\n", *runs, *duration)
	fmt.Printf("%-10s %9s %10s %12s %12s %16s\n", "mode", "processes", "requests", "µs/request", "fixed CPU-s", "steady µs/req")
	type summary struct{ perReq, fixed, steady float64 }
	sums := map[string]summary{}
	for _, m := range modes {
		var perReq, fix, steady []float64
		for k, r := range full[m.name] {
			perReq = append(perReq, usPer(r.cpu, r.requests))
			fix = append(fix, fixed[m.name][k].cpu.Seconds())
			steady = append(steady, usPer(r.cpu-fixed[m.name][k].cpu, r.requests))
		}
		s := summary{median(perReq), median(fix), median(steady)}
		sums[m.name] = s
		procs := strconv.Itoa(m.processes)
		if m.args != nil {
			procs = fmt.Sprintf("1+%d", *runners)
		}
		var reqs []float64
		for _, r := range full[m.name] {
			reqs = append(reqs, r.requests)
		}
		fmt.Printf("%-10s %9s %10.0f %12.2f %12.2f %16.2f\n", m.name, procs, median(reqs), s.perReq, s.fixed, s.steady)
	}
	one, dist, plain := sums[modes[0].name], sums[modes[1].name], sums[modes[2].name]
	ratio := func(name string, a, b summary) {
		fmt.Printf("%-28s whole run %.2f× (%+.1f %% CPU per request), steady state %.2f× (%+.1f %%)\n",
			name, b.perReq/a.perReq, (a.perReq/b.perReq-1)*100, b.steady/a.steady, (a.steady/b.steady-1)*100)
	}
	fmt.Printf("\nrequests per CPU-second, the first mode's against the second's:\n")
	ratio(modes[1].name+" / "+modes[0].name, dist, one)
	ratio(modes[2].name+" / "+modes[0].name, plain, one)
	ratio(modes[1].name+" / "+modes[2].name, dist, plain)
	fmt.Printf("(%s / %s is this machine's floor for any %d processes; %s / %s is the coordination itself)\n",
		modes[2].name, modes[0].name, *runners, modes[1].name, modes[2].name)
	var rates []float64
	for _, r := range full[modes[0].name] {
		rates = append(rates, r.requests/duration.Seconds())
	}
	reqRate := median(rates)
	fmt.Printf("\nthe extra fixed cost of %s, %.2f CPU-s a run, against the CPU of %s at %.0f requests/s:\n",
		modes[1].name, dist.fixed-one.fixed, modes[0].name, reqRate)
	for _, d := range []time.Duration{*duration, time.Minute, 10 * time.Minute} {
		steadyCPU := d.Seconds() * reqRate * one.steady / 1e6
		fmt.Printf("  a %s run: %.1f %% more CPU\n", d, (dist.fixed-one.fixed)/(one.fixed+steadyCPU)*100)
	}
	return nil
}

func describe(rate, vus int) string {
	if rate > 0 {
		return fmt.Sprintf("constant-arrival-rate %d/s (%d VUs pre-allocated)", rate, vus)
	}
	return fmt.Sprintf("constant-vus %d", vus)
}

func usPer(cpu time.Duration, requests float64) float64 {
	return float64(cpu.Microseconds()) / requests
}

// detail is the coordinator's share and the bytes a runner sent, when
// known.
func (m measurement) detail(d time.Duration, runners int) string {
	var s string
	if m.coordinatorCPU > 0 {
		s += fmt.Sprintf(" [coordinator %.2f CPU-s, runners %.2f]", m.coordinatorCPU.Seconds(), m.runnersCPU.Seconds())
	}
	if m.wireBytes > 0 {
		s += fmt.Sprintf(" [%.1f kB/s a runner]", float64(m.wireBytes)/d.Seconds()/float64(runners)/1e3)
	}
	return s
}

// measure runs the test once in each of processes side by side and
// returns their requests and the CPU time of their process trees.
func measure(bin, cpus, dir, testFile string, extra []string, processes int, profDir string) (measurement, error) {
	var m measurement
	var cmds []*exec.Cmd
	var exports []string
	var logs []*bytes.Buffer
	if profDir != "" {
		if err := os.MkdirAll(profDir, 0o755); err != nil {
			return m, err
		}
	}
	for i := range processes {
		export := filepath.Join(dir, fmt.Sprintf("summary-%d.json", i))
		args := append([]string{"-c", cpus, bin, "run", "-q", "--log-format", "json", "--summary-export", export}, extra...)
		cmd := exec.Command("taskset", append(args, testFile)...)
		if profDir != "" {
			cmd.Env = append(os.Environ(), "LOADLENS_PROFILE_DIR="+profDir)
		}
		log := &bytes.Buffer{}
		cmd.Stderr = log
		if err := cmd.Start(); err != nil {
			return m, err
		}
		cmds, exports, logs = append(cmds, cmd), append(exports, export), append(logs, log)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return m, fmt.Errorf("%w: %s", err, logs[i])
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		m.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		b, err := os.ReadFile(exports[i])
		if err != nil {
			return m, err
		}
		var s struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return m, err
		}
		m.requests += s.Metrics["http_reqs"]["count"]
		m.wireBytes += runnerBytes(logs[i].Bytes())
	}
	if profDir != "" && len(extra) > 0 {
		var err error
		if m.coordinatorCPU, m.runnersCPU, err = profiledCPU(profDir); err != nil {
			return m, err
		}
	}
	return m, nil
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

// profiledCPU reads the CPU times a profiling build wrote: the
// coordinator's (command run) and its runners'.
func profiledCPU(dir string) (coordinator, runners time.Duration, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.cpu"))
	if err != nil {
		return 0, 0, err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, 0, err
		}
		var user, sys float64
		if _, err := fmt.Sscan(string(b), &user, &sys); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", f, err)
		}
		cpu := time.Duration((user + sys) * float64(time.Second))
		if strings.HasPrefix(filepath.Base(f), "runner-") {
			runners += cpu
		} else {
			coordinator += cpu
		}
	}
	return coordinator, runners, nil
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
