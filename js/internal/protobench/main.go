// Command protobench measures loadlens against k6 on WebSocket and gRPC
// scripts: WebSocket messages and gRPC unary calls per CPU-second of the
// generator, both tools on the same script against the same servers in
// the same run.
//
// The servers (a WebSocket echo and the gRPC echo of internal/grpctest)
// run in a child process pinned to CPU 1; each generator runs in its own
// child process pinned to CPU 0, and its user+system CPU time is read from
// the kernel when it exits. k6 is taken from -k6 or PATH; without it only
// loadlens runs.
//
//	go run ./js/internal/protobench -vus 20 -d 10s -runs 3 -k6 /path/to/k6 [-only ws|grpc]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loadlens/loadlens/internal/grpctest"
	"github.com/loadlens/loadlens/internal/wsecho"
	"github.com/loadlens/loadlens/js"
	"github.com/loadlens/loadlens/loadtest"
)

// The scripts, as a user would write them, and the metric each counts.
var scripts = map[string]struct {
	code, metric, unit string
}{
	"ws": {code: `import ws from 'k6/ws';
export default function () {
  ws.connect(__ENV.WS, function (socket) {
    let n = 0;
    socket.on('open', () => socket.send('x'));
    socket.on('message', () => { if (++n >= 200) { socket.close(); } else { socket.send('x'); } });
  });
}
`, metric: "ws_msgs_received", unit: "WebSocket messages"},
	"grpc": {code: `import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load(['.'], 'echo.proto');
export default function () {
  if (__ITER === 0) {
    client.connect(__ENV.GRPC, { plaintext: true });
  }
  client.invoke('echo.Echo/Say', { text: 'x' });
}
`, metric: "iterations", unit: "gRPC unary calls"}, // one call an iteration: k6's summary export has no trend counts
}

func main() {
	serve := flag.Bool("serve", false, "child mode: serve the WebSocket and gRPC echoes and print their addresses")
	client := flag.String("client", "", "child mode: run the script ws or grpc with loadlens in -dir and print its count")
	dir := flag.String("dir", "", "child mode: the folder of the script")
	vus := flag.Int("vus", 20, "VUs")
	dur := flag.Duration("d", 10*time.Second, "duration of each run")
	runs := flag.Int("runs", 3, "runs of each measurement (medians are shown)")
	k6 := flag.String("k6", "", "the k6 binary (default: k6 on PATH)")
	ws := flag.String("ws", "", "child mode: the WebSocket URL")
	grpcAddr := flag.String("grpc", "", "child mode: the gRPC address")
	cpuProfile := flag.String("cpuprofile", "", "child mode: write the loadlens run's CPU profile to FILE")
	only := flag.String("only", "", "measure only ws or grpc (default: both)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "protobench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	switch {
	case *serve:
		err = serveEchoes()
	case *client != "":
		err = runClient(*client, *dir, *ws, *grpcAddr, *vus, *dur)
	default:
		err = compare(*vus, *dur, *runs, *k6, *only)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "protobench:", err)
		os.Exit(1)
	}
}

// serveEchoes serves both echoes until killed.
func serveEchoes() error {
	g, err := grpctest.Start(grpctest.Config{})
	if err != nil {
		return err
	}
	defer g.Stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ws://%s/ %s\n", ln.Addr(), g.Addr)
	srv := &http.Server{Handler: wsecho.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

// writeScript writes a script and echo.proto into a new folder.
func writeScript(kind string) (string, error) {
	dir, err := os.MkdirTemp("", "protobench")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "script.js"), []byte(scripts[kind].code), 0o600); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "echo.proto"), []byte(grpctest.Proto), 0o600)
}

// runClient runs a script with loadlens and prints its count.
func runClient(kind, dir, ws, grpcAddr string, vus int, d time.Duration) error {
	top, err := loadtest.DecodeK6Options(fmt.Appendf(nil, `{"vus":%d,"duration":%q,"summaryTrendStats":["avg"]}`, vus, d))
	if err != nil {
		return err
	}
	ctx := context.Background()
	env := map[string]string{"WS": ws, "GRPC": grpcAddr}
	plan, _, _, err := js.Plan(ctx, js.Source{Path: filepath.Join(dir, "script.js")}, loadtest.K6Options{}, top, js.Options{Env: env})
	if err != nil {
		return err
	}
	res, err := loadtest.Run(ctx, plan)
	if err != nil {
		return err
	}
	fmt.Println(int64(res.Metrics[scripts[kind].metric].Values["count"]))
	return nil
}

// measurement is one child run: the count and its CPU time.
type measurement struct {
	count int64
	cpu   time.Duration
}

// pinned returns a command pinned to cpu when taskset exists.
func pinned(cpu int, name string, args ...string) *exec.Cmd {
	if ts, err := exec.LookPath("taskset"); err == nil {
		return exec.Command(ts, append([]string{"-c", strconv.Itoa(cpu), name}, args...)...)
	}
	return exec.Command(name, args...)
}

// measure runs a generator child and reads its CPU time.
func measure(cmd *exec.Cmd, count func(stdout []byte) (int64, error)) (measurement, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return measurement{}, err
	}
	var m measurement
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m.count, err = count(out)
	return m, err
}

func lastInt(out []byte) (int64, error) {
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, errors.New("no count")
	}
	return strconv.ParseInt(fields[len(fields)-1], 10, 64)
}

func compare(vus int, d time.Duration, runs int, k6, only string) error {
	if _, ok := scripts[only]; only != "" && !ok {
		return fmt.Errorf("-only: want ws or grpc, got %q", only)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	srv := pinned(1, self, "-serve")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return fmt.Errorf("servers: %w", err)
	}
	addrs := strings.Fields(line)
	if len(addrs) != 2 {
		return fmt.Errorf("servers: unexpected %q", line)
	}
	wsURL, grpcAddr := addrs[0], addrs[1]
	if k6 == "" {
		k6, _ = exec.LookPath("k6")
	}
	if k6 == "" {
		fmt.Println("no k6 (-k6 or PATH): loadlens alone")
	}
	for _, kind := range []string{"ws", "grpc"} {
		if only != "" && kind != only {
			continue
		}
		dir, err := writeScript(kind)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		gens := map[string]func() (measurement, error){
			"loadlens": func() (measurement, error) {
				return measure(pinned(0, self, "-client", kind, "-dir", dir, "-ws", wsURL, "-grpc", grpcAddr,
					"-vus", strconv.Itoa(vus), "-d", d.String()), lastInt)
			},
		}
		if k6 != "" {
			gens["k6"] = func() (measurement, error) { return runK6(k6, kind, dir, wsURL, grpcAddr, vus, d) }
		}
		fmt.Printf("\n%s: %d VUs, %s, generator pinned to CPU 0, median of %d\n", scripts[kind].unit, vus, d, runs)
		fmt.Printf("%-10s %12s %10s %14s\n", "generator", "per second", "CPU s", "per CPU-s")
		// The generators take turns, so that a busy spell of the machine
		// falls on both.
		all := map[string][]measurement{}
		for range runs {
			for _, name := range []string{"loadlens", "k6"} {
				if run, ok := gens[name]; ok {
					m, err := run()
					if err != nil {
						return fmt.Errorf("%s %s: %w", name, kind, err)
					}
					all[name] = append(all[name], m)
				}
			}
		}
		perCPU := map[string]float64{}
		for _, name := range []string{"loadlens", "k6"} {
			ms, ok := all[name]
			if !ok {
				continue
			}
			rate := func(m measurement) float64 { return float64(m.count) / m.cpu.Seconds() }
			slices.SortFunc(ms, func(a, b measurement) int {
				if rate(a) < rate(b) {
					return -1
				}
				return 1
			})
			m := ms[len(ms)/2]
			perCPU[name] = rate(m)
			fmt.Printf("%-10s %12.0f %10.2f %14.0f\n", name, float64(m.count)/d.Seconds(), m.cpu.Seconds(), perCPU[name])
		}
		if k, ok := perCPU["k6"]; ok {
			fmt.Printf("loadlens/k6 %s per CPU-second: %.2f× (target ≥ 1.5×)\n", scripts[kind].unit, perCPU["loadlens"]/k)
		}
	}
	return nil
}

// runK6 runs k6 on the same script and reads the count from its summary.
func runK6(k6, kind, dir, wsURL, grpcAddr string, vus int, d time.Duration) (measurement, error) {
	summary := filepath.Join(dir, "summary.json")
	cmd := pinned(0, k6, "run", "--quiet", "--no-usage-report", "--vus", strconv.Itoa(vus), "--duration", d.String(),
		"-e", "WS="+wsURL, "-e", "GRPC="+grpcAddr, "--summary-export", summary, filepath.Join(dir, "script.js"))
	cmd.Dir = dir
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
		return int64(s.Metrics[scripts[kind].metric]["count"]), nil
	})
}
