package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sampler polls the CPU time of process trees while they run: every
// thread's /proc/PID/task/TID/schedstat (nanoseconds on the CPU, where
// /proc/PID/stat has 10 ms ticks), so that a process's CPU can be read at
// any moment of the run (the phases of a distributed run). It samples
// every interval while the processes start and from the run's end on,
// and every coarse interval in between, where CPU grows steadily: reading
// every thread of every process every 10 ms for a minute would take a
// good part of the target's CPU.
type sampler struct {
	interval, coarse time.Duration
	fine             func(elapsed time.Duration) bool
	roots            []int
	stop             chan struct{}
	done             chan struct{}
	procs            map[int]*series // the sampling goroutine's until finish
}

// series is one process's CPU over time; cpu never decreases.
type series struct {
	pid  int
	args []string
	at   []time.Time
	cpu  []time.Duration
}

func startSampler(interval, coarse time.Duration, fine func(elapsed time.Duration) bool, roots ...int) *sampler {
	s := &sampler{interval: interval, coarse: coarse, fine: fine, roots: roots, stop: make(chan struct{}),
		done: make(chan struct{}), procs: map[int]*series{}}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.sample()
		next := s.coarse
		if s.fine(time.Since(start)) {
			next = s.interval
		}
		t.Reset(next)
	}
}

// finish stops the sampler and returns what it saw.
func (s *sampler) finish() map[int]*series {
	close(s.stop)
	<-s.done
	return s.procs
}

// cpuTimes is how long the CPUs of list (taskset's syntax: 0,2-3) were
// busy and how long the hypervisor took them from this machine (steal),
// from /proc/stat, in the kernel's ticks.
func cpuTimes(list string) (busy, steal time.Duration, err error) {
	want := map[string]bool{}
	for part := range strings.SplitSeq(list, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("CPU list %q: %w", list, err)
		}
		for c := a; c <= b; c++ {
			want["cpu"+strconv.Itoa(c)] = true
		}
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	var busyTicks, stealTicks int64
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !want[f[0]] {
			continue
		}
		for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
			n, _ := strconv.ParseInt(v, 10, 64)
			switch i {
			case 3, 4: // idle, iowait
			case 7:
				stealTicks += n
			default:
				busyTicks += n
			}
		}
	}
	tick := time.Second / userHZ
	return time.Duration(busyTicks) * tick, time.Duration(stealTicks) * tick, nil
}

// userHZ is the unit of /proc/stat on Linux.
const userHZ = 100

func (s *sampler) sample() {
	now := time.Now()
	var pids []int
	for _, r := range s.roots {
		pids = appendTree(pids, r)
	}
	for _, pid := range pids {
		cpu, ok := threadsCPU(pid)
		if !ok {
			continue
		}
		p := s.procs[pid]
		if p == nil {
			p = &series{pid: pid}
			s.procs[pid] = p
		}
		if len(p.args) < 2 { // read until exec has given it its own
			p.args = cmdline(pid)
		}
		if n := len(p.cpu); n > 0 {
			cpu = max(cpu, p.cpu[n-1]) // a thread that ended takes its time with it
		}
		p.at, p.cpu = append(p.at, now), append(p.cpu, cpu)
	}
}

// appendTree appends pid and its descendants.
func appendTree(pids []int, pid int) []int {
	pids = append(pids, pid)
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				pids = appendTree(pids, c)
			}
		}
	}
	return pids
}

// threadsCPU is the time pid's live threads have been on a CPU.
func threadsCPU(pid int) (time.Duration, bool) {
	stats, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	var total time.Duration
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), " ")
		ns, err := strconv.ParseInt(first, 10, 64)
		if err == nil {
			total += time.Duration(ns)
		}
	}
	return total, len(stats) > 0
}

func cmdline(pid int) []string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
}

// flag returns the value of --name in the process's arguments.
func (p *series) flag(name string) string {
	if i := slices.Index(p.args, "--"+name); i >= 0 && i+1 < len(p.args) {
		return p.args[i+1]
	}
	return ""
}

// at returns the process's CPU at t, interpolated between samples: 0
// before it was first seen (it started after the previous sample), its
// last reading after it ended.
func (p *series) cpuAt(t time.Time) time.Duration {
	i, _ := slices.BinarySearchFunc(p.at, t, func(a, b time.Time) int { return a.Compare(b) })
	switch {
	case len(p.at) == 0 || i == 0 && t.Before(p.at[0]):
		return 0
	case i >= len(p.at):
		return p.cpu[len(p.cpu)-1]
	case p.at[i].Equal(t):
		return p.cpu[i]
	}
	a, b := p.at[i-1], p.at[i]
	f := float64(t.Sub(a)) / float64(b.Sub(a))
	return p.cpu[i-1] + time.Duration(f*float64(p.cpu[i]-p.cpu[i-1]))
}

// last is the process's last reading.
func (p *series) last() time.Duration { return p.cpu[len(p.cpu)-1] }
