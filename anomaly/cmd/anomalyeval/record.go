package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/target"
)

// recorder records runs with child processes of this binary.
type recorder struct {
	self string // this binary
	log  io.Writer
}

// record records every job on parallel workers, in job order of
// completion, and returns the runs per faults file. A failed run is
// reported and left out.
func (rc *recorder) record(ctx context.Context, jobs []job, parallel int) (map[string][]evaluation.RecordedRun, error) {
	var mu sync.Mutex
	out := map[string][]evaluation.RecordedRun{}
	var failed []error
	next, done := 0, 0
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for ctx.Err() == nil {
				mu.Lock()
				if next == len(jobs) {
					mu.Unlock()
					return
				}
				j := jobs[next]
				next++
				mu.Unlock()
				for _, spec := range j.specs {
					t0 := time.Now()
					run, err := rc.recordOne(ctx, spec)
					mu.Lock()
					if err != nil {
						failed = append(failed, fmt.Errorf("%s: %w", spec.ID, err))
						fmt.Fprintf(rc.log, "%s: FAILED: %v\n", spec.ID, err)
					} else {
						out[j.file] = append(out[j.file], run)
						fmt.Fprintf(rc.log, "%s: %s in %s, labels %s\n", spec.ID, spec.Duration, time.Since(t0).Round(time.Second), labelText(run.Labels))
					}
					mu.Unlock()
				}
				mu.Lock()
				done++
				fmt.Fprintf(rc.log, "[%d/%d jobs]\n", done, len(jobs))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for f := range out {
		slices.SortFunc(out[f], func(a, b evaluation.RecordedRun) int { return strings.Compare(a.ID, b.ID) })
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	return out, errors.Join(failed...)
}

func labelText(ls []evaluation.Label) string {
	if len(ls) == 0 {
		return "none"
	}
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = fmt.Sprintf("%s@%.1fs", l.Kind, l.Start.Seconds())
		if l.End > 0 {
			parts[i] += fmt.Sprintf("-%.1fs", l.End.Seconds())
		}
		if l.Endpoint != "" {
			parts[i] += "{" + l.Endpoint + "}"
		}
	}
	return strings.Join(parts, " ")
}

// child is a running child process of the recorder: its stdout is a pipe
// (stdout) or kept (out).
type child struct {
	cmd         *exec.Cmd
	stdout      io.ReadCloser
	out, stderr bytes.Buffer
}

// start starts this binary with the command and the JSON of in on stdin;
// pipe asks for its stdout as a pipe.
func (rc *recorder) start(ctx context.Context, command string, in any, pipe bool) (*child, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, rc.self, command)
	// Stopped gently (the target shuts down, the generator ends its run),
	// killed if it takes too long.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdin = bytes.NewReader(b)
	c := &child{cmd: cmd}
	cmd.Stderr = &c.stderr
	if !pipe {
		cmd.Stdout = &c.out
	} else if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// wait waits for the child and returns its error with its stderr.
func (c *child) wait() error {
	if err := c.cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w: %s", c.cmd.Args[1], err, strings.TrimSpace(c.stderr.String()))
	}
	return nil
}

// recordOne records one run: its target, then the hog, then the generator
// from a shared epoch; the labels come from the target's events log.
func (rc *recorder) recordOne(ctx context.Context, spec runSpec) (evaluation.RecordedRun, error) {
	ctx, cancel := context.WithTimeout(ctx, spec.Duration+2*time.Minute)
	defer cancel()
	// The epoch leaves the children time to start on a busy machine.
	epoch := time.Now().Add(1500 * time.Millisecond)
	cfg := spec.Target
	cfg.Epoch = epoch
	tgt, err := rc.start(ctx, "child-target", cfg, true)
	if err != nil {
		return evaluation.RecordedRun{}, err
	}
	lines := bufio.NewScanner(tgt.stdout)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	if !lines.Scan() {
		_ = tgt.wait()
		return evaluation.RecordedRun{}, fmt.Errorf("target did not start: %s", strings.TrimSpace(tgt.stderr.String()))
	}
	stopTarget := func() { _ = tgt.cmd.Process.Signal(syscall.SIGTERM) }
	url, ok := strings.CutPrefix(lines.Text(), "listening ")
	if !ok {
		stopTarget()
		_ = tgt.wait()
		return evaluation.RecordedRun{}, fmt.Errorf("target said %q", lines.Text())
	}
	// The events log, read while the run goes on.
	var events []target.Event
	var evErr error
	var readers sync.WaitGroup
	readers.Go(func() {
		for lines.Scan() {
			var ev target.Event
			if err := json.Unmarshal(lines.Bytes(), &ev); err != nil {
				evErr = fmt.Errorf("events log: %w", err)
				continue
			}
			events = append(events, ev)
		}
	})
	stopAll := func() error {
		stopTarget()
		readers.Wait()
		return errors.Join(tgt.wait(), evErr)
	}
	var hog *child
	if spec.HogFor > 0 {
		if hog, err = rc.start(ctx, "child-hog", hogSpec{From: epoch.Add(spec.HogAt), For: spec.HogFor}, false); err != nil {
			_ = stopAll()
			return evaluation.RecordedRun{}, err
		}
	}
	gen, err := rc.start(ctx, "child-generate", genSpec{Run: spec, BaseURL: url, Epoch: epoch}, false)
	if err != nil {
		_ = stopAll()
		return evaluation.RecordedRun{}, err
	}
	genErr := gen.wait()
	var res loadtest.Result
	decErr := json.Unmarshal(gen.out.Bytes(), &res)
	if hog != nil {
		if err := hog.wait(); err != nil {
			genErr = errors.Join(genErr, err)
		}
	}
	if err := errors.Join(genErr, stopAll()); err != nil {
		return evaluation.RecordedRun{}, err
	}
	if decErr != nil {
		return evaluation.RecordedRun{}, fmt.Errorf("result: %w", decErr)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return evaluation.RecordedRun{}, err
	}
	run := evaluation.RecordedRun{ID: spec.ID, Group: spec.Group, Index: spec.Index, Hog: spec.HogFor > 0,
		Endpoints: len(spec.Paths), Spec: raw, Result: res, Labels: labels(spec, res, events)}
	if spec.Label != "" && len(run.Labels) == 0 {
		return run, fmt.Errorf("the fault never started (events: %d)", len(events))
	}
	return run, nil
}

// endpointName is the name tag of a path's requests, as the request plan
// and the scripts name them.
func endpointName(path string) string { return "GET " + path }

// labels makes the run's labels from the target's events: each fault's
// true start and end, from the run's start.
func labels(spec runSpec, res loadtest.Result, events []target.Event) []evaluation.Label {
	if spec.Label == "" {
		return []evaluation.Label{}
	}
	var out []evaluation.Label
	for _, ev := range events {
		if ev.What != "start" {
			continue
		}
		f := spec.Target.Faults[ev.Fault].WithDefaults()
		l := evaluation.Label{Kind: spec.Label, Start: ev.Time.Sub(res.Start)}
		if spec.FaultPath != "" {
			l.Endpoint = endpointName(spec.FaultPath)
		}
		for _, e := range events {
			if (e.What == "end" || e.What == "capped") && e.Fault == ev.Fault && l.End == 0 {
				l.End = e.Time.Sub(res.Start)
			}
		}
		switch f.Kind {
		case target.FaultStep:
			l.Size = f.Factor
			l.Detail = fmt.Sprintf("latency ×%g +%s", f.Factor, f.Delay)
		case target.FaultDrift:
			l.Size = float64(f.Slope) / float64(time.Millisecond)
			l.Detail = fmt.Sprintf("+%s per second", f.Slope)
		case target.FaultBurst, target.FaultException, target.FaultReset:
			l.Size = f.Rate
		case target.FaultStall:
			l.Size, l.Period = f.Length.Seconds(), f.Period
			l.Detail = fmt.Sprintf("stalls of %s every %s", f.Length, f.Period)
		case target.FaultLeak:
			l.Size = float64(f.Bytes)
		case target.FaultRefuse:
			l.Detail = "connections refused (k6 error code 1212)"
		case target.FaultSaturate:
			// The knee: when the ramp reaches the VUs that fill the slots.
			l.Size = math.Round(spec.KneeVUs*10) / 10
			l.Start = ev.Time.Sub(res.Start) + time.Duration(float64(spec.Ramp)*spec.KneeVUs/float64(spec.VUs))
			l.Detail = fmt.Sprintf("%d slots held %s", f.Slots, f.Hold)
		}
		if f.Kind == target.FaultReset {
			l.Detail = "connections reset (k6 error code 1220)"
		}
		out = append(out, l)
	}
	return out
}

// writeCorpus writes each file's runs to dir/FILE.json.gz, merged with
// the runs already there whose scenarios were not recorded again.
func writeCorpus(dir string, runs map[string][]evaluation.RecordedRun, rerecorded map[string]bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for file, rs := range runs {
		path := filepath.Join(dir, file+".json.gz")
		if old, err := evaluation.ReadCorpus(path); err == nil {
			for _, r := range old {
				if !rerecorded[scenarioOf(r.ID)] {
					rs = append(rs, r)
				}
			}
		}
		slices.SortFunc(rs, func(a, b evaluation.RecordedRun) int { return strings.Compare(a.ID, b.ID) })
		var buf bytes.Buffer
		if err := evaluation.WriteCorpus(&buf, rs); err != nil {
			return err
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scenarioOf returns "file/scenario" of a run ID "file/scenario#n[.i]".
func scenarioOf(id string) string {
	s, _, _ := strings.Cut(id, "#")
	return s
}
