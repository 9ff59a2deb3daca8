// Command peers measures loadlens against wrk, hey, vegeta and k6 on
// loopback: the same built-in target on one CPU, each generator on the
// other, N runs each, interleaved, so that every ratio it prints comes from
// one run. It prints the load average before each measurement: the machine
// may be shared, and a ratio of one run is worth more than a number.
//
// Throughput (-skip-peers skips it): -conns connections against the 2-byte
// "/" page. The request plan against wrk, hey and vegeta, and a k6 script
// (http.get, a check and a custom Trend per iteration) against k6 running
// the same script: requests per second, generator CPU µs per request, peak
// RSS, and the ratios in requests per generator CPU-second.
//
// The VU experiment runs 50, 500 and 2 000 VUs (-vu-counts) against the
// target's /delay/100 page with the request plan, with a k6 script, and
// with k6 itself running the same script: peak RSS at each count, memory
// per extra VU, requests per second against the ceiling (VUs × 10/s) and
// the generator's CPU use, with loadlens's ratios to k6 from the same run.
// wrk with as many connections runs beside them when installed: what a
// C generator gets from the same target on this machine, the ceiling that
// VUs × 10/s is only in theory. The heavy run (-heavy-vus, default 10 000)
// does the same against /delay/1000 without k6: does the generator's core
// saturate?
//
// k6 is -k6, or k6 on PATH; without it the experiments run loadlens alone.
// -baseline names another loadlens binary (built from main, say) that every
// experiment runs beside this one, so that a change's saving is a ratio of
// one run.
// Run it through bench/run, which installs the other peers.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
}

type config struct {
	duration        time.Duration
	conns, runs     int
	genCPU, tgtCPU  string
	rate            int
	skipArrivalRate bool
	skipPeers       bool
	vuCounts        string
	vuDuration      time.Duration
	heavyVUs        int
	heavyDuration   time.Duration
	k6              string // the k6 binary, or ""
	baseline        string // a loadlens binary to compare with, or ""
}

func run() error {
	var c config
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each run")
	flag.IntVar(&c.conns, "conns", 50, "connections (VUs)")
	flag.IntVar(&c.runs, "runs", 3, "runs per generator (the median is reported)")
	flag.StringVar(&c.genCPU, "generator-cpu", "0", "CPU list for the generators (taskset)")
	flag.StringVar(&c.tgtCPU, "target-cpu", "1", "CPU list for the target (taskset)")
	flag.IntVar(&c.rate, "rate", 5000, "constant-arrival-rate check: iterations per second")
	flag.BoolVar(&c.skipArrivalRate, "skip-arrival-rate", false, "skip the arrival-rate check")
	flag.BoolVar(&c.skipPeers, "skip-peers", false, "skip the c=50 comparison with wrk, hey and vegeta")
	flag.StringVar(&c.vuCounts, "vu-counts", "50,500,2000", "VU experiment: VU counts against /delay/100 (empty skips it)")
	flag.DurationVar(&c.vuDuration, "vu-duration", 10*time.Second, "VU experiment: length of each run")
	flag.IntVar(&c.heavyVUs, "heavy-vus", 10000, "heavy run: VUs against /delay/1000 (0 skips it)")
	flag.DurationVar(&c.heavyDuration, "heavy-duration", 20*time.Second, "heavy run: length of each run")
	flag.StringVar(&c.k6, "k6", "", "k6 binary to compare with (default: k6 on PATH, if any)")
	flag.StringVar(&c.baseline, "baseline", "", "VU experiments: another loadlens binary (say, of main) to run beside this one")
	flag.Parse()
	if c.k6 == "" {
		c.k6, _ = exec.LookPath("k6")
	}

	dir, err := os.MkdirTemp("", "loadlens-peers")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "loadlens")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/loadlens").CombinedOutput(); err != nil {
		return fmt.Errorf("building loadlens: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, stop, err := startTarget(ctx, bin, c.tgtCPU)
	if err != nil {
		return err
	}
	defer stop()
	if !c.skipPeers {
		if err := peers(ctx, bin, dir, url, c); err != nil {
			return err
		}
	}
	if !c.skipArrivalRate {
		if err := arrivalRate(ctx, bin, dir, url, c); err != nil {
			return err
		}
	}
	if c.vuCounts != "" {
		counts, err := vuCounts(c.vuCounts)
		if err != nil {
			return err
		}
		if err := vuExperiment(ctx, bin, dir, url, c, counts, 100, c.vuDuration, c.k6); err != nil {
			return err
		}
	}
	if c.heavyVUs > 0 {
		return vuExperiment(ctx, bin, dir, url, c, []int{c.heavyVUs}, 1000, c.heavyDuration, "")
	}
	return nil
}

// vuCounts parses -vu-counts.
func vuCounts(list string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-vu-counts: %q is not a VU count", f)
		}
		counts = append(counts, n)
	}
	return counts, nil
}

// peers compares loadlens's request plan with wrk, hey and vegeta at
// c.conns connections against the 2-byte page.
func peers(ctx context.Context, bin, dir, url string, c config) error {
	fmt.Printf("target %s on CPU %s; generators on CPU %s; %d connections, %s per run, %d runs each\n\n",
		url, c.tgtCPU, c.genCPU, c.conns, c.duration, c.runs)

	script := filepath.Join(dir, "checks.js")
	if err := os.WriteFile(script, []byte(checksScript), 0o644); err != nil {
		return err
	}
	summary := filepath.Join(dir, "summary.json")
	scriptArgs := []string{"run", "-q", "-u", strconv.Itoa(c.conns), "-d", c.duration.String(), "-e", "URL=" + url,
		"--summary-export", summary, script}
	gens := []generator{
		{"loadlens", loadlensCmd(bin, dir, url, c), loadlensCount(dir)},
		{"script", runCmd(bin, "--no-analysis", scriptArgs), loadlensCount(dir)},
	}
	if c.baseline != "" {
		gens = append(gens, generator{"loadlens@base", loadlensCmd(c.baseline, dir, url, c), loadlensCount(dir)},
			generator{"script@base", runCmd(c.baseline, "--no-analysis", scriptArgs), loadlensCount(dir)})
	}
	peerGens := []generator{
		{"wrk", []string{"wrk", "-t1", fmt.Sprintf("-c%d", c.conns), "-d" + c.duration.String(), url + "/"}, wrkCount},
		{"hey", []string{"hey", "-z", c.duration.String(), "-c", strconv.Itoa(c.conns), url + "/"}, heyCount},
		{"vegeta", []string{"sh", "-c", fmt.Sprintf("echo 'GET %s/' | vegeta attack -rate=0 -max-workers=%d -workers=%d -duration=%s > %s/vegeta.bin && vegeta report %s/vegeta.bin",
			url, c.conns, c.conns, c.duration, dir, dir)}, vegetaCount},
	}
	gens = append(gens, peerGens...)
	if c.k6 != "" {
		gens = append(gens, generator{"k6", runCmd(c.k6, "--no-usage-report", scriptArgs), loadlensCount(dir)})
	}
	results := map[string][]measure{}
	for i := range c.runs {
		for _, g := range gens { // interleaved, so drift hits every generator alike
			m, err := g.measure(ctx, c.genCPU)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", g.name, i+1, err)
			}
			results[g.name] = append(results[g.name], m)
		}
	}
	fmt.Println("loadlens is the request plan; script runs checks.js (http.get, a check, a custom Trend), as k6 does")
	fmt.Printf("%-13s %10s %14s %12s %10s %9s %s\n", "generator", "req/s", "CPU µs/req", "req/CPU-s", "peak RSS", "load", "(each run's req/CPU-s)")
	med := map[string]measure{}
	for _, g := range gens {
		m := median(results[g.name])
		med[g.name] = m
		var each []string
		for _, r := range results[g.name] {
			each = append(each, fmt.Sprintf("%.0f", r.reqPerCPUSec()))
		}
		fmt.Printf("%-13s %10.0f %14.1f %12.0f %7.1f MB %9s (%s)\n", g.name, m.reqPerSec(), m.cpuMsPer1k(), m.reqPerCPUSec(),
			m.rssKB/1024, m.load, strings.Join(each, ", "))
	}
	fmt.Printf("\nrequests per generator CPU-second, ratio in the same run (median, and each run's):\n")
	ratio := func(a, b string) {
		var each []string
		for i := range results[a] {
			each = append(each, fmt.Sprintf("%.2f", results[a][i].reqPerCPUSec()/results[b][i].reqPerCPUSec()))
		}
		fmt.Printf("  %-8s / %-13s %.2f×  (%s)\n", a, b, med[a].reqPerCPUSec()/med[b].reqPerCPUSec(), strings.Join(each, ", "))
	}
	for _, g := range peerGens {
		ratio("loadlens", g.name)
	}
	if c.k6 != "" {
		ratio("script", "k6")
	}
	if c.baseline != "" {
		ratio("loadlens", "loadlens@base")
		ratio("script", "script@base")
	}
	return nil
}

// checksScript is the throughput comparison's k6 script: a request, a
// check and a custom Trend per iteration, as a typical test has.
const checksScript = `import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
const waiting = new Trend('waiting_time', true);
export default function () {
  const res = http.get(__ENV.URL + '/');
  check(res, { 'status is 200': (r) => r.status === 200 });
  waiting.add(res.timings.waiting);
}
`

// delayScript is the VU experiments' k6 script: one request to a page
// that answers after a delay, so that each VU makes at most 1/delay a
// second.
const delayScript = "import http from 'k6/http';\nexport default function () { http.get(__ENV.URL + '/delay/' + __ENV.DELAY); }\n"

// vuExperiment measures memory and throughput at several VU counts against
// the /delay/delayMs page: the request plan, a k6 script, and k6 running
// the same script when k6 is not "", each run interleaved with the others.
func vuExperiment(ctx context.Context, bin, dir, url string, c config, counts []int, delayMs int, dur time.Duration, k6 string) error {
	script := filepath.Join(dir, "delay.js")
	if err := os.WriteFile(script, []byte(delayScript), 0o644); err != nil {
		return err
	}
	d := dur.String()
	delay := strconv.Itoa(delayMs)
	type tool struct {
		name string
		cmd  func(vus int) generator
	}
	summary := filepath.Join(dir, "summary.json")
	scriptArgs := func(vus int) []string {
		return []string{"run", "-q", "-u", strconv.Itoa(vus), "-d", d, "-e", "URL=" + url, "-e", "DELAY=" + delay,
			"--summary-export", summary, script}
	}
	loadlens := func(bin, suffix string) []tool {
		return []tool{
			{"plan" + suffix, func(vus int) generator {
				spec := fmt.Sprintf(`{"test_type": "custom", "target": {"base_url": %q, "endpoints": ["/delay/%s"]},
				"options": {"vus": %d, "duration": %q, "discardResponseBodies": true}}`, url, delay, vus, d)
				path := filepath.Join(dir, "vus.json")
				if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
					panic(err)
				}
				return generator{"plan", []string{bin, "run", "-q", "--no-analysis", "--summary-export", summary, path}, loadlensCount(dir)}
			}},
			{"script" + suffix, func(vus int) generator {
				return generator{"script", runCmd(bin, "--no-analysis", scriptArgs(vus)), loadlensCount(dir)}
			}},
		}
	}
	tools := loadlens(bin, "")
	if c.baseline != "" {
		tools = append(tools, loadlens(c.baseline, "@base")...)
	}
	if k6 != "" {
		tools = append(tools, tool{"k6", func(vus int) generator {
			return generator{"k6", runCmd(k6, "--no-usage-report", scriptArgs(vus)), loadlensCount(dir)}
		}})
	}
	_, wrkErr := exec.LookPath("wrk")
	if wrkErr == nil {
		tools = append(tools, tool{"wrk", func(vus int) generator {
			return generator{"wrk", []string{"wrk", "-t1", fmt.Sprintf("-c%d", vus), "-d" + d, url + "/delay/" + delay}, wrkCount}
		}})
	}
	perVU := 1000 / float64(delayMs) // requests a VU can make per second
	fmt.Printf("\nVUs against %s/delay/%d (ceiling: VUs × %g req/s), %s per run, median of %d, generators on CPU %s\n",
		url, delayMs, perVU, d, c.runs, c.genCPU)
	med := map[string]map[int]measure{}
	for _, t := range tools {
		med[t.name] = map[int]measure{}
	}
	for _, n := range counts {
		results := map[string][]measure{}
		for i := range c.runs {
			for _, t := range tools {
				m, err := t.cmd(n).measure(ctx, c.genCPU)
				if err != nil {
					return fmt.Errorf("%s, %d VUs, run %d: %w", t.name, n, i+1, err)
				}
				m.process = m.wall
				m.wall = dur.Seconds() // req/s over the test, not the process (init, k6's start-up)
				results[t.name] = append(results[t.name], m)
			}
		}
		for _, t := range tools {
			med[t.name][n] = medianRSS(results[t.name])
		}
	}
	fmt.Printf("%-11s %6s %10s %10s %11s %14s %9s\n", "tool", "VUs", "peak RSS", "req/s", "of ceiling", "CPU of a core", "load")
	for _, t := range tools {
		for _, n := range counts {
			m := med[t.name][n]
			fmt.Printf("%-11s %6d %7.1f MB %10.0f %10.1f%% %13.0f%% %9s\n", t.name, n, m.rssKB/1024, m.reqPerSec(),
				100*m.reqPerSec()/(perVU*float64(n)), 100*m.cpu/m.process, m.load)
		}
	}
	hi := counts[len(counts)-1]
	fmt.Println()
	for _, peer := range []string{"k6", "wrk"} {
		if _, ran := med[peer]; ran {
			fmt.Printf("loadlens / %s (same run), req/s at %d VUs: plan %.2f×, script %.2f×\n", peer, hi,
				med["plan"][hi].reqPerSec()/med[peer][hi].reqPerSec(), med["script"][hi].reqPerSec()/med[peer][hi].reqPerSec())
		}
	}
	if len(counts) < 2 {
		return nil
	}
	lo := counts[0]
	kbPerVU := func(name string) float64 {
		return (med[name][hi].rssKB - med[name][lo].rssKB) * 1024 / 1000 / float64(hi-lo)
	}
	fmt.Printf("\nmemory per extra VU (%d → %d VUs, peak RSS):\n", lo, hi)
	for _, t := range tools {
		fmt.Printf("  %-11s %6.1f KB\n", t.name, kbPerVU(t.name))
	}
	if k6 != "" {
		fmt.Printf("loadlens / k6 (same run), KB per VU: plan %.2f×, script %.2f×\n",
			kbPerVU("plan")/kbPerVU("k6"), kbPerVU("script")/kbPerVU("k6"))
	}
	if c.baseline != "" {
		fmt.Printf("loadlens / baseline (same run), KB per VU: plan %.2f×, script %.2f×\n",
			kbPerVU("plan")/kbPerVU("plan@base"), kbPerVU("script")/kbPerVU("script@base"))
	}
	return nil
}

// runCmd is `bin run flag args...`, args after "run".
func runCmd(bin, flag string, args []string) []string {
	return append([]string{bin, "run", flag}, args[1:]...)
}

// medianRSS is the run with the median peak RSS.
func medianRSS(ms []measure) measure {
	slices.SortFunc(ms, func(a, b measure) int { return int(a.rssKB - b.rssKB) })
	return ms[len(ms)/2]
}

type generator struct {
	name  string
	cmd   []string
	count func(out string) (float64, error)
}

type measure struct {
	requests, wall, cpu, rssKB float64
	process                    float64 // the process's wall time, s
	load                       string  // the 1-minute load average when the run started
}

func (m measure) reqPerSec() float64    { return m.requests / m.wall }
func (m measure) cpuMsPer1k() float64   { return m.cpu / m.requests * 1e6 } // µs per request
func (m measure) reqPerCPUSec() float64 { return m.requests / m.cpu }

// median is the run with the median requests per CPU-second; ms keeps
// its order, the order of the runs.
func median(ms []measure) measure {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b measure) int {
		return int(a.reqPerCPUSec() - b.reqPerCPUSec())
	})
	return ms[len(ms)/2]
}

// measure runs the generator pinned to cpus under GNU time.
func (g generator) measure(ctx context.Context, cpus string) (measure, error) {
	load := loadAverage()
	args := append([]string{"-f", "TIME %e %U %S %M", "taskset", "-c", cpus}, g.cmd...)
	cmd := exec.CommandContext(ctx, "/usr/bin/time", args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 0 {
			return measure{}, fmt.Errorf("%v\n%s%s", err, out.String(), errOut.String())
		}
	}
	m := measure{load: load}
	line := regexp.MustCompile(`TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)`).FindStringSubmatch(errOut.String())
	if line == nil {
		return m, fmt.Errorf("no timing in %q", errOut.String())
	}
	m.wall, _ = strconv.ParseFloat(line[1], 64)
	user, _ := strconv.ParseFloat(line[2], 64)
	sys, _ := strconv.ParseFloat(line[3], 64)
	m.cpu = user + sys
	m.rssKB, _ = strconv.ParseFloat(line[4], 64)
	n, err := g.count(out.String())
	if err != nil {
		return m, err
	}
	m.requests = n
	return m, nil
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

func firstFloat(re, s string) (float64, error) {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("no match for %s in:\n%s", re, s)
	}
	return strconv.ParseFloat(m[1], 64)
}

func wrkCount(out string) (float64, error) { return firstFloat(`(\d+) requests in`, out) }
func heyCount(out string) (float64, error) { return firstFloat(`\[200\]\s+(\d+) responses`, out) }
func vegetaCount(out string) (float64, error) {
	return firstFloat(`Requests\s+\[total, rate, throughput\]\s+(\d+),`, out)
}

func loadlensCmd(bin, dir, url string, c config) []string {
	spec := fmt.Sprintf(`{"test_type": "custom", "target": {"base_url": %q, "endpoints": ["/"]},
		"options": {"vus": %d, "duration": %q, "discardResponseBodies": true}}`, url, c.conns, c.duration)
	path := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		panic(err)
	}
	return []string{bin, "run", "-q", "--no-analysis", "--summary-export", filepath.Join(dir, "summary.json"), path}
}

func loadlensCount(dir string) func(string) (float64, error) {
	return func(string) (float64, error) {
		var s struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		return s.Metrics["http_reqs"]["count"], nil
	}
}

// startTarget runs `loadlens target` on a free loopback port, pinned.
func startTarget(ctx context.Context, bin, cpus string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, "taskset", "-c", cpus, bin, "target", "--addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := regexp.MustCompile(`serving (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, errors.New("the target printed no URL")
}

// arrivalRate checks that a constant-arrival-rate run keeps its rate. The
// export carries iteration_lateness (not one of k6's metrics) only when a
// threshold names it, hence the one that always holds.
func arrivalRate(ctx context.Context, bin, dir, url string, c config) error {
	spec := fmt.Sprintf(`{"test_type": "custom", "target": {"base_url": %q, "endpoints": ["/"]},
		"options": {"discardResponseBodies": true, "summaryTrendStats": ["avg", "p(99)", "max"],
		"thresholds": {"iteration_lateness": ["max>=0"]}, "scenarios": {"car": {
		"executor": "constant-arrival-rate", "rate": %d, "duration": %q, "preAllocatedVUs": 100, "maxVUs": 400}}}}`,
		url, c.rate, c.duration)
	path := filepath.Join(dir, "car.json")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		return err
	}
	summary := filepath.Join(dir, "car-summary.json")
	cmd := exec.CommandContext(ctx, "taskset", "-c", c.genCPU, bin, "run", "-q", "--no-analysis", "--summary-export", summary, path)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("arrival-rate run: %w", err)
	}
	var s struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	want := float64(c.rate) * c.duration.Seconds()
	got := s.Metrics["iterations"]["count"]
	fmt.Printf("\nconstant-arrival-rate %d/s for %s: %.0f of %.0f iterations (%.2f %%), %.0f dropped, lateness p99 %.3f ms, max %.3f ms\n",
		c.rate, c.duration, got, want, 100*got/want, s.Metrics["dropped_iterations"]["count"],
		s.Metrics["iteration_lateness"]["p(99)"], s.Metrics["iteration_lateness"]["max"])
	return nil
}
