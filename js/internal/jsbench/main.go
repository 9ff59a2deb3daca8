// Command jsbench measures loadlens running a k6 script against k6 (when a
// k6 binary is on PATH): requests per CPU-second of the generator and
// resident memory per VU.
//
// The server (a 2-byte HTTP/1.1 page) runs in a child process pinned to
// CPU 1; each generator runs in its own child process pinned to CPU 0,
// and its user+system CPU time and peak RSS are read from the kernel when
// it exits. Throughput runs the script `http.get(URL)` with -vus VUs for
// -d; memory runs `http.get(URL); sleep(1)` with 50 and 500 VUs (or
// -memvus) and reports the marginal RSS per VU between them.
//
//	go run ./js/internal/jsbench -vus 50 -d 10s -runs 3
//
// Where a VU's memory goes: one child run with a heap profile taken half
// way through, when every VU is initialised and parked in sleep(), against
// a server started with -serve:
//
//	go build -o /tmp/jsbench ./js/internal/jsbench && /tmp/jsbench -serve 127.0.0.1:0 &
//	/tmp/jsbench -client http://ADDR/ -script memory -vus 2000 -d 6s -memprofile heap.pb.gz
//	go tool pprof -sample_index=inuse_space -top /tmp/jsbench heap.pb.gz
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loadlens/loadlens/internal/leanserver"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// The scripts, as a user would write them.
const (
	throughputScript = "import http from 'k6/http';\nexport default function () { http.get(__ENV.URL); }\n"
	memoryScript     = "import http from 'k6/http';\nimport { sleep } from 'k6';\nexport default function () { http.get(__ENV.URL); sleep(1); }\n"
	sleepScript      = "import { sleep } from 'k6';\nexport default function () { sleep(1); }\n"
)

func main() {
	serve := flag.String("serve", "", "child mode: serve on this address and print it")
	client := flag.String("client", "", "child mode: run the script against this URL and print the request count")
	script := flag.String("script", "throughput", "script of -client: throughput, memory, or sleep (idle VUs that never request)")
	vus := flag.Int("vus", 50, "VUs of the throughput runs")
	memVUs := flag.String("memvus", "50,500", "VU counts of the memory runs")
	dur := flag.Duration("d", 10*time.Second, "duration of each throughput run")
	memDur := flag.Duration("memd", 5*time.Second, "duration of each memory run")
	runs := flag.Int("runs", 3, "runs of each measurement (medians are shown)")
	memProfile := flag.String("memprofile", "", "child mode: write a heap profile of -client here half way through the run")
	flag.Parse()
	if *memProfile != "" {
		runtime.MemProfileRate = 4096 // the profile should see small per-VU objects
	}
	var err error
	switch {
	case *serve != "":
		err = leanserver.ListenAndServe(*serve, os.Stdout)
	case *client != "":
		err = runClient(*client, *script, *vus, *dur, *memProfile)
	default:
		err = compare(*vus, *dur, *memVUs, *memDur, *runs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "jsbench:", err)
		os.Exit(1)
	}
}

// runClient runs one script with loadlens and prints http_reqs.
func runClient(url, script string, vus int, d time.Duration, memProfile string) error {
	code := throughputScript
	switch script {
	case "memory":
		code = memoryScript
	case "sleep":
		code = sleepScript
	}
	top, err := loadtest.DecodeK6Options(fmt.Appendf(nil, `{"vus":%d,"duration":%q,"summaryTrendStats":["avg"]}`, vus, d))
	if err != nil {
		return err
	}
	ctx := context.Background()
	plan, _, _, err := js.Plan(ctx, js.Source{Code: []byte(code)}, loadtest.K6Options{}, top, js.Options{Env: map[string]string{"URL": url}})
	if err != nil {
		return err
	}
	var outs []loadtest.Output
	if memProfile != "" {
		outs = append(outs, &heapProfiler{path: memProfile, at: d / 2})
	}
	res, err := loadtest.Run(ctx, plan, outs...)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if err := o.(*heapProfiler).err; err != nil {
			return err
		}
	}
	fmt.Println(int64(res.Metrics["http_reqs"].Values["count"]))
	return nil
}

// measurement is one child run: requests, CPU and peak RSS.
type measurement struct {
	reqs   int64
	cpu    time.Duration
	rss    int64 // bytes
	wall   time.Duration
	failed error
}

// pinned returns a command pinned to cpu when taskset exists.
func pinned(cpu int, name string, args ...string) *exec.Cmd {
	if ts, err := exec.LookPath("taskset"); err == nil {
		return exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
	}
	return exec.Command(name, args...)
}

// measure runs a generator child and reads its resource usage.
func measure(cmd *exec.Cmd, count func(stdout []byte) (int64, error)) measurement {
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	m := measurement{wall: time.Since(start)}
	if err != nil {
		m.failed = err
		return m
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		m.rss = ru.Maxrss * 1024
	}
	m.reqs, m.failed = count(out)
	return m
}

func lastInt(out []byte) (int64, error) {
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, errors.New("no request count")
	}
	return strconv.ParseInt(fields[len(fields)-1], 10, 64)
}

// generator runs one script with one tool.
type generator struct {
	name string
	run  func(url, script string, vus int, d time.Duration) measurement
}

func compare(vus int, d time.Duration, memVUs string, memDur time.Duration, runs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := pinned(1, self, "-serve", "127.0.0.1:0")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/"

	gens := []generator{{name: "loadlens", run: func(url, script string, vus int, d time.Duration) measurement {
		return measure(pinned(0, self, "-client", url, "-script", script, "-vus", strconv.Itoa(vus), "-d", d.String()), lastInt)
	}}}
	if k6, err := exec.LookPath("k6"); err == nil {
		gens = append(gens, generator{name: "k6", run: func(url, script string, vus int, d time.Duration) measurement {
			return runK6(k6, url, script, vus, d)
		}})
	} else {
		fmt.Println("k6 is not on PATH: loadlens alone (k6 v2.2.0 measured here before: 16 k req/s at 62.5 µs CPU per request,")
		fmt.Println("i.e. 16 000 req per CPU-second, and ≈ 250 KB per VU; /work/shared/PERF-NOTES.md)")
	}

	fmt.Printf("\nthroughput: http.get of a 2-byte page, %d VUs, %s, generator pinned to CPU 0, median of %d\n", vus, d, runs)
	fmt.Printf("%-10s %12s %10s %14s %12s\n", "generator", "req/s", "CPU s", "req/CPU-s", "µs CPU/req")
	perCPU := map[string]float64{}
	for _, g := range gens {
		var ms []measurement
		for range runs {
			m := g.run(url, "throughput", vus, d)
			if m.failed != nil {
				return fmt.Errorf("%s: %w", g.name, m.failed)
			}
			ms = append(ms, m)
		}
		slices.SortFunc(ms, func(a, b measurement) int {
			return int(a.cpu/time.Duration(max(a.reqs, 1)) - b.cpu/time.Duration(max(b.reqs, 1)))
		})
		m := ms[len(ms)/2]
		rate := float64(m.reqs) / d.Seconds()
		perCPU[g.name] = float64(m.reqs) / m.cpu.Seconds()
		fmt.Printf("%-10s %12.0f %10.2f %14.0f %12.1f\n", g.name, rate, m.cpu.Seconds(), perCPU[g.name], m.cpu.Seconds()*1e6/float64(m.reqs))
	}
	if k, ok := perCPU["k6"]; ok {
		fmt.Printf("loadlens/k6 req per CPU-second: %.2f× (target ≥ 1.5×)\n", perCPU["loadlens"]/k)
	}

	var counts []int
	for _, f := range strings.Split(memVUs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-memvus: %w", err)
		}
		counts = append(counts, n)
	}
	fmt.Printf("\nmemory: http.get + sleep(1), %s, peak RSS, median of %d\n", memDur, runs)
	fmt.Printf("%-10s %6s %10s %10s\n", "generator", "VUs", "RSS MB", "KB/VU")
	for _, g := range gens {
		var rss []int64
		for _, n := range counts {
			var rs []int64
			for range runs {
				m := g.run(url, "memory", n, memDur)
				if m.failed != nil {
					return fmt.Errorf("%s: %w", g.name, m.failed)
				}
				rs = append(rs, m.rss)
			}
			slices.Sort(rs)
			r := rs[len(rs)/2]
			rss = append(rss, r)
			fmt.Printf("%-10s %6d %10.1f %10.1f\n", g.name, n, float64(r)/1e6, float64(r)/1e3/float64(n))
		}
		if len(counts) >= 2 {
			a, b := counts[0], counts[len(counts)-1]
			fmt.Printf("%-10s marginal %d→%d VUs: %.1f KB per VU\n", g.name, a, b, float64(rss[len(rss)-1]-rss[0])/1e3/float64(b-a))
		}
	}
	return nil
}

// runK6 runs k6 with the same script and reads http_reqs from its summary.
func runK6(k6, url, script string, vus int, d time.Duration) measurement {
	dir, err := os.MkdirTemp("", "jsbench")
	if err != nil {
		return measurement{failed: err}
	}
	defer os.RemoveAll(dir)
	code := throughputScript
	if script == "memory" {
		code = memoryScript
	}
	path := filepath.Join(dir, "script.js")
	summary := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(path, []byte(code), 0o600); err != nil {
		return measurement{failed: err}
	}
	cmd := pinned(0, k6, "run", "--quiet", "--no-usage-report", "--vus", strconv.Itoa(vus), "--duration", d.String(),
		"-e", "URL="+url, "--summary-export", summary, path)
	return measure(cmd, func([]byte) (int64, error) {
		b, err := os.ReadFile(summary)
		if err != nil {
			return 0, err
		}
		var s struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		return int64(s.Metrics["http_reqs"]["count"]), nil
	})
}

// heapProfiler is an output that writes a heap profile once, the first
// time the run's progress passes at, when every VU is initialised and
// idle in sleep(), and prints where the memory is (heap, stacks, runtime).
type heapProfiler struct {
	path string
	at   time.Duration
	done bool
	err  error
}

func (h *heapProfiler) Start(loadtest.RunInfo) error { return nil }
func (h *heapProfiler) AddSamples([]metrics.Sample)  {}
func (h *heapProfiler) Stop(loadtest.Result) error   { return nil }
func (h *heapProfiler) Progress(s loadtest.Snapshot) {
	if h.done || s.Elapsed < h.at {
		return
	}
	h.done = true
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "at %s, %d VUs: heap in use %.1f MB (%d objects), stacks %.1f MB, other runtime %.1f MB, goroutines %d, sys %.1f MB\n",
		s.Elapsed.Round(time.Millisecond), s.VUsMax, float64(ms.HeapInuse)/1e6, ms.HeapObjects, float64(ms.StackInuse)/1e6,
		float64(ms.MSpanInuse+ms.MCacheInuse+ms.BuckHashSys+ms.GCSys+ms.OtherSys)/1e6, runtime.NumGoroutine(), float64(ms.Sys)/1e6)
	f, err := os.Create(h.path)
	if err != nil {
		h.err = err
		return
	}
	defer f.Close()
	h.err = pprof.Lookup("heap").WriteTo(f, 0)
}
