// Command runners measures what a distributed run costs: requests per
// CPU-second of `loadlens run --runners N` (a coordinator with an embedded
// NATS server and N local runner processes) against `loadlens run` (one
// process), and against N plain `loadlens run` processes side by side with
// a share of the VUs each (no coordination: what splitting the load over
// N processes on one machine costs by itself). The same test against the
// same loopback target, interleaved, -runs times each, so that every
// ratio comes from one run. CPU is user + system of each process tree
// (the coordinator reaps its runners); requests are the summaries'
// http_reqs. The target runs on -target-cpu, the generators on
// -generator-cpu (taskset).
//
//	go run ./bench/runners -runs 5
package main

import (
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

func run() error {
	runs := flag.Int("runs", 3, "runs of each mode (the median is reported)")
	runners := flag.Int("runners", 2, "runners of the distributed mode")
	vus := flag.Int("vus", 20, "VUs of the test")
	duration := flag.Duration("duration", 10*time.Second, "length of each run")
	genCPU := flag.String("generator-cpu", "0", "CPU list of the generators (taskset)")
	tgtCPU := flag.String("target-cpu", "1", "CPU list of the target (taskset)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "loadlens-runners-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "loadlens")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/loadlens").CombinedOutput(); err != nil {
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

	test := map[string]any{"name": "overhead", "target": map[string]any{"base_url": "http://" + addr, "endpoints": []string{"/"}},
		"options": map[string]any{"scenarios": map[string]any{"s": map[string]any{"executor": "constant-vus",
			"vus": *vus, "duration": duration.String()}}}}
	testFile := filepath.Join(dir, "test.json")
	b, _ := json.Marshal(test)
	if err := os.WriteFile(testFile, b, 0o644); err != nil {
		return err
	}

	// The same test with a share of the VUs, for the plain processes.
	share := filepath.Join(dir, "share.json")
	test["options"].(map[string]any)["scenarios"].(map[string]any)["s"].(map[string]any)["vus"] = *vus / *runners
	b, _ = json.Marshal(test)
	if err := os.WriteFile(share, b, 0o644); err != nil {
		return err
	}

	modes := []struct {
		name      string
		args      []string
		processes int
		file      string
	}{
		{"1 process", nil, 1, testFile},
		{fmt.Sprintf("%d runners", *runners), []string{"--runners", strconv.Itoa(*runners)}, 1, testFile},
		{fmt.Sprintf("%d plain", *runners), nil, *runners, share},
	}
	perCPU := map[string][]float64{}
	for i := range *runs {
		for _, m := range modes {
			load, _ := os.ReadFile("/proc/loadavg")
			reqs, cpu, err := measure(bin, *genCPU, dir, m.file, m.args, m.processes)
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			r := reqs / cpu.Seconds()
			perCPU[m.name] = append(perCPU[m.name], r)
			fmt.Printf("run %d %-10s %8.0f requests  %6.2f CPU-s  %7.0f req/CPU-s  (load %s)\n",
				i+1, m.name, reqs, cpu.Seconds(), r, strings.Join(strings.Fields(string(load))[:3], " "))
		}
	}
	one, dist, plain := median(perCPU[modes[0].name]), median(perCPU[modes[1].name]), median(perCPU[modes[2].name])
	fmt.Printf("\nmedian requests per CPU-second: %s %.0f, %s %.0f, %s %.0f\n", modes[0].name, one, modes[1].name, dist, modes[2].name, plain)
	fmt.Printf("%s / %s = %.2f× (overhead %.0f %%)\n", modes[1].name, modes[0].name, dist/one, (1-dist/one)*100)
	fmt.Printf("%s / %s = %.2f× (splitting the load over processes)\n", modes[2].name, modes[0].name, plain/one)
	fmt.Printf("%s / %s = %.2f× (coordination: coordinator, NATS, partials)\n", modes[1].name, modes[2].name, dist/plain)
	return nil
}

// measure runs the test once in each of processes side by side and
// returns their requests and the CPU time of their process trees.
func measure(bin, cpus, dir, testFile string, extra []string, processes int) (float64, time.Duration, error) {
	var cmds []*exec.Cmd
	var exports []string
	for i := range processes {
		export := filepath.Join(dir, fmt.Sprintf("summary-%d.json", i))
		args := append([]string{"-c", cpus, bin, "run", "-q", "--summary-export", export}, extra...)
		cmd := exec.Command("taskset", append(args, testFile)...)
		if err := cmd.Start(); err != nil {
			return 0, 0, err
		}
		cmds, exports = append(cmds, cmd), append(exports, export)
	}
	var reqs float64
	var cpu time.Duration
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			return 0, 0, err
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		b, err := os.ReadFile(exports[i])
		if err != nil {
			return 0, 0, err
		}
		var s struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, 0, err
		}
		reqs += s.Metrics["http_reqs"]["count"]
	}
	return reqs, cpu, nil
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
