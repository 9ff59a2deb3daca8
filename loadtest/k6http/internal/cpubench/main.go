// Command cpubench measures the CPU a load generator spends per request,
// the client alone: the server runs in a separate process pinned to
// another CPU, and each generator runs in its own process pinned to CPU 0,
// whose user+system time is read from the kernel when it exits.
//
// Generators: "fast" (k6http's own HTTP/1.1 path), "nethttp" (k6http
// through net/http), "plain" (a bare net/http client loop, no k6
// instrumentation) and "wrk" (when installed). Each is run -runs times in
// turn; the table shows medians.
//
//	go run ./loadtest/k6http/internal/cpubench -c 50 -d 10s -runs 3
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/loadlens/loadlens/internal/leanserver"
	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

func main() {
	serve := flag.String("serve", "", "run the server on this address and print it (child mode)")
	client := flag.String("client", "", "run one generator against this URL and print its request count (child mode)")
	mode := flag.String("mode", "fast", "generator of -client: fast, nethttp or plain")
	conns := flag.Int("c", 50, "connections (VUs)")
	dur := flag.Duration("d", 10*time.Second, "duration of each run")
	runs := flag.Int("runs", 3, "runs of each generator")
	modes := flag.String("modes", "fast,nethttp,plain,wrk", "generators to compare")
	profile := flag.String("cpuprofile", "", "write a CPU profile of -client to this file")
	flag.Parse()
	if *profile != "" && *client != "" {
		f, err := os.Create(*profile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "cpubench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}

	var err error
	switch {
	case *serve != "":
		err = leanserver.ListenAndServe(*serve, os.Stdout)
	case *client != "":
		err = runClient(*client, *mode, *conns, *dur)
	default:
		err = compare(strings.Split(*modes, ","), *conns, *dur, *runs)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "cpubench:", err)
		os.Exit(1)
	}
}

// runClient runs conns VUs for d and prints how many requests succeeded.
func runClient(url, mode string, conns int, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	reg := metrics.NewRegistry()
	vuTags := metrics.NewTags("scenario", "default", "group", "")
	for range conns {
		switch mode {
		case "fast", "nethttp":
			pending := make([]metrics.Sample, 0, 128) // as the engine's VU buffers samples
			c, err := k6http.NewClient(reg, func(s []metrics.Sample) {
				if pending = append(pending, s...); len(pending) >= 64 {
					pending = pending[:0]
				}
			}, k6http.Options{DisableFastPath: mode == "nethttp"})
			if err != nil {
				return err
			}
			req := &k6http.Request{URL: url, VUTags: vuTags}
			wg.Go(func() {
				defer c.Close()
				for ctx.Err() == nil {
					r, err := c.Do(ctx, req)
					switch {
					case err != nil:
					case r.Status == http.StatusOK:
						ok.Add(1)
					default:
						failed.Add(1)
					}
				}
			})
		case "plain":
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			cl := &http.Client{Transport: tr}
			wg.Go(func() {
				defer tr.CloseIdleConnections()
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
					resp, err := cl.Do(req)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
			})
		default:
			return fmt.Errorf("unknown mode %q", mode)
		}
	}
	wg.Wait()
	fmt.Println(ok.Load(), failed.Load())
	return nil
}

type result struct {
	mode     string
	requests int64
	cpu      time.Duration
	wall     time.Duration
}

func (r result) usPerReq() float64 {
	return float64(r.cpu) / float64(time.Microsecond) / float64(r.requests)
}

// pinned returns a command pinned to cpu with taskset when it exists.
func pinned(cpu string, name string, args ...string) *exec.Cmd {
	if path, err := exec.LookPath("taskset"); err == nil {
		return exec.Command(path, append([]string{"-c", cpu, name}, args...)...)
	}
	return exec.Command(name, args...)
}

func compare(modes []string, conns int, d time.Duration, runs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := pinned("1", self, "-serve", "127.0.0.1:0")
	out, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	}()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/"
	if _, err := exec.LookPath("wrk"); err != nil {
		modes = slices.DeleteFunc(modes, func(m string) bool { return m == "wrk" })
	}
	fmt.Printf("server %s on CPU 1, generators on CPU 0, %d connections, %s × %d runs\n", url, conns, d, runs)
	all := map[string][]result{}
	for run := range runs {
		for _, m := range modes {
			r, err := runOne(self, m, url, conns, d)
			if err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			all[m] = append(all[m], r)
			fmt.Printf("  run %d %-8s %8d req  %7.0f req/s  %6.2f CPU µs/req\n", run+1, m, r.requests,
				float64(r.requests)/r.wall.Seconds(), r.usPerReq())
		}
	}
	fmt.Printf("\n%-8s %10s %16s\n", "median", "req/s", "CPU µs/request")
	med := map[string]float64{}
	for _, m := range modes {
		rs := all[m]
		slices.SortFunc(rs, func(a, b result) int { return int(a.usPerReq()*1000) - int(b.usPerReq()*1000) })
		r := rs[len(rs)/2]
		med[m] = r.usPerReq()
		fmt.Printf("%-8s %10.0f %16.2f\n", m, float64(r.requests)/r.wall.Seconds(), r.usPerReq())
	}
	if f, ok := med["fast"]; ok {
		for _, m := range modes {
			if m != "fast" {
				fmt.Printf("fast uses %.2f× the CPU per request of %s (requests per CPU-second: %.2f×)\n", f/med[m], m, med[m]/f)
			}
		}
	}
	return nil
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

func runOne(self, mode, url string, conns int, d time.Duration) (result, error) {
	var cmd *exec.Cmd
	if mode == "wrk" {
		cmd = pinned("0", "wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", url)
	} else {
		cmd = pinned("0", self, "-client", url, "-mode", mode, "-c", strconv.Itoa(conns), "-d", d.String())
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		return result{}, err
	}
	var n int64
	if mode == "wrk" {
		m := wrkRequests.FindSubmatch(out)
		if m == nil {
			return result{}, fmt.Errorf("no request count in wrk's output:\n%s", out)
		}
		n, _ = strconv.ParseInt(string(m[1]), 10, 64)
		if strings.Contains(string(out), "Non-2xx") || strings.Contains(string(out), "Socket errors") {
			return result{}, fmt.Errorf("wrk saw errors:\n%s", out)
		}
	} else {
		var failed int64
		if _, err := fmt.Sscan(string(out), &n, &failed); err != nil {
			return result{}, fmt.Errorf("client output %q: %w", out, err)
		}
		if failed > 0 {
			return result{}, fmt.Errorf("%d requests failed", failed)
		}
	}
	if n == 0 {
		return result{}, errors.New("no requests")
	}
	st := cmd.ProcessState
	return result{mode: mode, requests: n, cpu: st.UserTime() + st.SystemTime(), wall: wall}, nil
}
