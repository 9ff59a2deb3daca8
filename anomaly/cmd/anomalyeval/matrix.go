package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly/evaluation"
	"github.com/loadlens/loadlens/target"
)

// matrixFile is a faults file: scenarios, each expanded into runs.
type matrixFile struct {
	Doc       string            `json:"doc"`
	Seed      uint64            `json:"seed"`
	Scenarios []json.RawMessage `json:"scenarios"`
}

// scenarioJSON is one scenario as written; dist fields are literals,
// lists or {"min", "max"} ranges (see the command's doc).
type scenarioJSON struct {
	Name      string                     `json:"name"`
	Runs      int                        `json:"runs"`
	Fault     map[string]json.RawMessage `json:"fault"`
	Onset     json.RawMessage            `json:"onset"`
	Duration  json.RawMessage            `json:"duration"`
	Endpoints json.RawMessage            `json:"endpoints"`
	Load      json.RawMessage            `json:"load"`
	VUs       json.RawMessage            `json:"vus"`
	Rate      json.RawMessage            `json:"rate"`
	Ramp      json.RawMessage            `json:"ramp"`
	Latency   json.RawMessage            `json:"latency"`
	Spread    json.RawMessage            `json:"spread"`
	Errors    json.RawMessage            `json:"errors"`
	Hog       json.RawMessage            `json:"hog"`
	History   json.RawMessage            `json:"history"`
	Script    string                     `json:"script"`
}

// dist is a parsed dist field: values to draw one of, or a range.
type dist struct {
	set    bool
	vals   []float64 // numbers; durations in ns
	strs   []string
	lo, hi float64
	ranged bool
	log    bool
}

// draw returns one value of d, or def when d is not set.
func (d dist) draw(rng *rand.Rand, def float64) float64 {
	switch {
	case !d.set:
		return def
	case d.ranged && d.log:
		return math.Exp(math.Log(d.lo) + (math.Log(d.hi)-math.Log(d.lo))*rng.Float64())
	case d.ranged:
		return d.lo + (d.hi-d.lo)*rng.Float64()
	}
	return d.vals[rng.IntN(len(d.vals))]
}

func (d dist) drawDur(rng *rand.Rand, def time.Duration) time.Duration {
	return time.Duration(d.draw(rng, float64(def))).Round(time.Millisecond)
}

func (d dist) drawStr(rng *rand.Rand, def string) string {
	if !d.set || len(d.strs) == 0 {
		return def
	}
	return d.strs[rng.IntN(len(d.strs))]
}

// kinds of dist fields.
const (
	numField = iota
	durField
	strField
	boolField
)

// parseDist parses raw as a dist field of kind k; problems go to errs,
// prefixed by path.
func parseDist(raw json.RawMessage, k int, path string, errs *[]error) dist {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return dist{}
	}
	bad := func(format string, args ...any) dist {
		*errs = append(*errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
		return dist{}
	}
	one := func(v any) (float64, string, bool) {
		switch x := v.(type) {
		case float64:
			if k == numField {
				return x, "", true
			}
			if k == durField {
				return x * float64(time.Millisecond), "", true
			}
		case string:
			if k == strField {
				return 0, x, true
			}
			if k == durField {
				d, err := time.ParseDuration(x)
				if err == nil && d >= 0 {
					return float64(d), "", true
				}
			}
		case bool:
			if k == boolField {
				if x {
					return 1, "", true
				}
				return 0, "", true
			}
		}
		return 0, "", false
	}
	want := map[int]string{numField: "a number", durField: `a duration ("10s")`, strField: "a string", boolField: "true or false"}[k]
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return bad("%v", err)
	}
	d := dist{set: true}
	switch x := v.(type) {
	case []any:
		if len(x) == 0 {
			return bad("an empty list: want one or more values to draw from")
		}
		for i, e := range x {
			f, s, ok := one(e)
			if !ok {
				return bad("[%d]: want %s, got %v", i, want, e)
			}
			d.vals, d.strs = append(d.vals, f), append(d.strs, s)
		}
	case map[string]any:
		if k == strField || k == boolField {
			return bad("a range: want %s or a list of them", want)
		}
		for key := range x {
			if key != "min" && key != "max" && key != "log" {
				return bad("unknown key %q: a range has min, max and log", key)
			}
		}
		lo, _, ok1 := one(x["min"])
		hi, _, ok2 := one(x["max"])
		if !ok1 || !ok2 {
			return bad("a range needs min and max, each %s", want)
		}
		if lo > hi {
			return bad("min %v is above max %v", x["min"], x["max"])
		}
		d.ranged, d.lo, d.hi = true, lo, hi
		if lg, ok := x["log"].(bool); ok && lg {
			if lo <= 0 {
				return bad("a log range needs min > 0")
			}
			d.log = true
		}
	default:
		f, s, ok := one(x)
		if !ok {
			return bad("want %s, a list of them or {\"min\", \"max\"}, got %s", want, raw)
		}
		d.vals, d.strs = []float64{f}, []string{s}
	}
	return d
}

// scenario is a parsed scenario.
type scenario struct {
	file, name string
	index      int
	runs       int
	kind       target.FaultKind // "" for a null scenario
	label      string
	fault      map[string]dist
	onset, duration, endpoints, load, vus, rate, ramp,
	latency, spread, errors, hog, history dist
	script string // path, resolved against the faults file's folder
}

// faultFields are the fault's dist fields and their kinds; "endpoint" is
// "one" (default: one of the run's endpoints, drawn) or "all".
var faultFields = map[string]int{
	"kind": strField, "endpoint": strField, "for": durField, "factor": numField, "delay": durField,
	"slope": durField, "rate": numField, "period": durField, "length": durField, "bytes": numField,
	"slots": numField, "hold": durField,
}

// loadShapes are the load shapes a scenario may draw.
var loadShapes = []string{"constant-vus", "ramping-vus", "constant-arrival-rate", "ramping-arrival-rate"}

// labelOf returns the label kind a fault kind makes.
func labelOf(k target.FaultKind) string {
	switch k {
	case target.FaultReset, target.FaultRefuse:
		return evaluation.LabelNetwork
	case target.FaultSaturate:
		return evaluation.LabelKnee
	}
	return string(k)
}

// readMatrix reads and checks a faults file; every problem is reported at
// once, prefixed by its JSON path.
func readMatrix(path string) (matrixFile, []scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return matrixFile{}, nil, err
	}
	var mf matrixFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&mf); err != nil {
		return mf, nil, fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	var out []scenario
	names := map[string]bool{}
	file := strings.TrimSuffix(filepath.Base(path), ".json")
	for i, raw := range mf.Scenarios {
		p := fmt.Sprintf("scenarios[%d]", i)
		var sj scenarioJSON
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		sc := scenario{file: file, name: sj.Name, index: i, runs: sj.Runs, fault: map[string]dist{}}
		switch {
		case sj.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", p))
		case names[sj.Name]:
			errs = append(errs, fmt.Errorf("%s.name: %q is used twice", p, sj.Name))
		}
		names[sj.Name] = true
		if sj.Runs < 1 || sj.Runs > 1000 {
			errs = append(errs, fmt.Errorf("%s.runs: must be in [1, 1000], got %d", p, sj.Runs))
		}
		for k, v := range sj.Fault {
			fk, ok := faultFields[k]
			if !ok {
				errs = append(errs, fmt.Errorf("%s.fault.%s: unknown field: want one of kind, endpoint, for, factor, delay, slope, rate, period, length, bytes, slots, hold", p, k))
				continue
			}
			sc.fault[k] = parseDist(v, fk, p+".fault."+k, &errs)
		}
		if sj.Fault != nil {
			kd := sc.fault["kind"]
			if !kd.set || len(kd.strs) != 1 {
				errs = append(errs, fmt.Errorf("%s.fault.kind: required, one kind", p))
			} else if k, err := target.ParseFaultKind(kd.strs[0]); err != nil {
				errs = append(errs, fmt.Errorf("%s.fault.kind: %w", p, err))
			} else {
				sc.kind, sc.label = k, labelOf(k)
			}
			if ep := sc.fault["endpoint"]; ep.set && slices.ContainsFunc(ep.strs, func(s string) bool { return s != "one" && s != "all" }) {
				errs = append(errs, fmt.Errorf("%s.fault.endpoint: want \"one\" or \"all\"", p))
			}
		}
		sc.onset = parseDist(sj.Onset, numField, p+".onset", &errs)
		sc.duration = parseDist(sj.Duration, durField, p+".duration", &errs)
		sc.endpoints = parseDist(sj.Endpoints, numField, p+".endpoints", &errs)
		sc.load = parseDist(sj.Load, strField, p+".load", &errs)
		for _, s := range sc.load.strs {
			if !slices.Contains(loadShapes, s) {
				errs = append(errs, fmt.Errorf("%s.load: unknown shape %q: want one of %s", p, s, strings.Join(loadShapes, ", ")))
			}
		}
		sc.vus = parseDist(sj.VUs, numField, p+".vus", &errs)
		sc.rate = parseDist(sj.Rate, numField, p+".rate", &errs)
		sc.ramp = parseDist(sj.Ramp, numField, p+".ramp", &errs)
		sc.latency = parseDist(sj.Latency, durField, p+".latency", &errs)
		sc.spread = parseDist(sj.Spread, numField, p+".spread", &errs)
		sc.errors = parseDist(sj.Errors, numField, p+".errors", &errs)
		sc.hog = parseDist(sj.Hog, boolField, p+".hog", &errs)
		sc.history = parseDist(sj.History, numField, p+".history", &errs)
		if sc.history.set && sc.kind != "" {
			errs = append(errs, fmt.Errorf("%s.history: only null scenarios (no fault) record history", p))
		}
		if sj.Script != "" {
			sc.script = sj.Script
			if !filepath.IsAbs(sc.script) {
				sc.script = filepath.Join(filepath.Dir(path), sc.script)
			}
			if _, err := os.Stat(sc.script); err != nil {
				errs = append(errs, fmt.Errorf("%s.script: %w", p, err))
			}
		}
		if sc.kind == target.FaultException && sc.script == "" {
			errs = append(errs, fmt.Errorf("%s.script: an exception fault needs a script that reads the bodies", p))
		}
		out = append(out, sc)
	}
	if err := errors.Join(errs...); err != nil {
		return mf, nil, fmt.Errorf("%s:\n%w", path, err)
	}
	return mf, out, nil
}

// The endpoints a run draws from: JSON routes first (a script parses the
// bodies), then the plain-text root.
var endpointPool = []string{"/api/products/7", "/api/products", "/api/products/42", "/api/products/3", "/"}

// routeWeight is the target's latency weight of a path.
func routeWeight(path string) float64 {
	if path == "/api/products" {
		return 2
	}
	return 1
}

// runSpec is one run to record: everything drawn. It is stored in the
// corpus beside the Result.
type runSpec struct {
	ID       string        `json:"id"`
	Group    string        `json:"group,omitempty"`
	Index    int           `json:"index,omitempty"`
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
	Load     string        `json:"load"`
	VUs      int           `json:"vus,omitempty"`
	Rate     int           `json:"rate,omitempty"`
	Ramp     time.Duration `json:"ramp_ns,omitempty"`
	Hold     time.Duration `json:"hold_ns,omitempty"`
	Paths    []string      `json:"paths"`
	Label    string        `json:"label,omitempty"`
	// FaultPath is the faulted endpoint's path ("" for all endpoints).
	FaultPath string        `json:"fault_path,omitempty"`
	Target    target.Config `json:"target"`
	KneeVUs   float64       `json:"knee_vus,omitempty"`
	HogAt     time.Duration `json:"hog_at_ns,omitempty"`
	HogFor    time.Duration `json:"hog_for_ns,omitempty"`
	Script    string        `json:"script,omitempty"`
}

// job is what one worker records in a row: a run, or a history group.
type job struct {
	file  string
	specs []runSpec
}

// expand draws the runs of every scenario. Each run's draws come from its
// own generator, seeded by the file's seed, the scenario's name and the
// run's number: adding a scenario changes no other run.
func expand(mf matrixFile, scs []scenario) []job {
	var jobs []job
	for _, sc := range scs {
		for n := range sc.runs {
			h := fnv.New64a()
			fmt.Fprintf(h, "%s/%s#%d", sc.file, sc.name, n)
			rng := rand.New(rand.NewPCG(mf.Seed, h.Sum64()))
			id := fmt.Sprintf("%s/%s#%d", sc.file, sc.name, n)
			base := drawRun(sc, rng, id)
			if !sc.history.set {
				jobs = append(jobs, job{file: sc.file, specs: []runSpec{base}})
				continue
			}
			// A test recorded again and again: same plan and target, a new
			// seed each time.
			size := max(1, int(math.Round(sc.history.draw(rng, 1))))
			var g []runSpec
			for i := range size {
				r := base
				r.ID, r.Group, r.Index = fmt.Sprintf("%s.%d", id, i), id, i
				r.Target.Seed = base.Target.Seed + uint64(i)
				g = append(g, r)
			}
			jobs = append(jobs, job{file: sc.file, specs: g})
		}
	}
	return jobs
}

// visible returns how long a fault needs before and after its onset to be
// seen at all: the gross changes last 3 s or more.
func visible(kind target.FaultKind, f target.Fault) (before, after time.Duration) {
	before, after = 3*time.Second, 4*time.Second
	switch kind {
	case target.FaultDrift:
		after = 10 * time.Second
	case target.FaultLeak:
		before, after = 5*time.Second, 10*time.Second
	case target.FaultStall:
		after = 2*f.Period + f.Length + time.Second
	case target.FaultBurst, target.FaultRefuse:
		if f.For > 0 {
			after = f.For + 2*time.Second
		}
	}
	return before, after
}

// maxRun bounds a run's length.
const maxRun = 120 * time.Second

func drawRun(sc scenario, rng *rand.Rand, id string) runSpec {
	r := runSpec{ID: id, Name: sc.file + "/" + sc.name, Label: sc.label, Script: sc.script}
	cfg := target.Config{
		// Room for a leak to grow all run long (the default cap, 256 MiB,
		// is reached in a minute at a few MB/s).
		LeakMax:      1 << 30,
		Latency:      sc.latency.drawDur(rng, 8*time.Millisecond),
		Spread:       sc.spread.draw(rng, 0.3),
		ErrorRate:    sc.errors.draw(rng, 0),
		RandomErrors: true,
		Seed:         rng.Uint64(),
	}
	// Endpoints: k of the pool, JSON ones only for a script.
	pool := slices.Clone(endpointPool)
	if sc.script != "" {
		pool = pool[:len(pool)-1]
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	k := min(len(pool), max(1, int(math.Round(sc.endpoints.draw(rng, 1)))))
	r.Paths = pool[:k]

	var f target.Fault
	if sc.kind != "" {
		f = target.Fault{Kind: sc.kind,
			For:    sc.fault["for"].drawDur(rng, 0),
			Factor: sc.fault["factor"].draw(rng, 0),
			Delay:  sc.fault["delay"].drawDur(rng, 0),
			Slope:  sc.fault["slope"].drawDur(rng, 0),
			Rate:   math.Round(sc.fault["rate"].draw(rng, 0)*1e4) / 1e4,
			Period: sc.fault["period"].drawDur(rng, 0),
			Length: sc.fault["length"].drawDur(rng, 0),
			Bytes:  int64(sc.fault["bytes"].draw(rng, 0)),
			Slots:  int(math.Round(sc.fault["slots"].draw(rng, 0))),
			Hold:   sc.fault["hold"].drawDur(rng, 0),
		}
		if sc.fault["endpoint"].drawStr(rng, "one") == "one" && sc.kind != target.FaultRefuse {
			r.FaultPath = r.Paths[rng.IntN(len(r.Paths))]
			f.Endpoint = r.FaultPath
		}
	}
	if sc.kind == target.FaultSaturate {
		return drawKnee(sc, rng, r, cfg, f)
	}

	// The run's length and the onset: the onset is uniform over its
	// fraction of the run; the run grows when the fault would have less
	// than it needs to be seen before or after it.
	frac := sc.onset.draw(rng, 0.05+0.9*rng.Float64())
	d := sc.duration.drawDur(rng, 20*time.Second).Round(time.Second)
	if sc.kind != "" {
		before, after := visible(sc.kind, f.WithDefaults())
		d = max(d, time.Duration(float64(before)/frac), time.Duration(float64(after)/(1-frac)))
		d = min(d.Round(time.Second), maxRun)
		frac = min(max(frac, float64(before)/float64(d)), 1-float64(after)/float64(d))
		f.At = time.Duration(frac * float64(d)).Round(100 * time.Millisecond)
		cfg.Faults = []target.Fault{f}
	}
	r.Duration = d
	r.Load = sc.load.drawStr(rng, "constant-vus")
	r.Ramp = time.Duration(sc.ramp.draw(rng, 0.3) * float64(d)).Round(time.Second)
	// Throughput stays in the low thousands: the machine is shared.
	meanLat := 0.0
	for _, p := range r.Paths {
		meanLat += float64(cfg.Latency) * routeWeight(p)
	}
	iter := time.Duration(meanLat) + time.Duration(len(r.Paths))*200*time.Microsecond
	switch r.Load {
	case "constant-vus", "ramping-vus":
		r.VUs = max(1, int(math.Round(sc.vus.draw(rng, 8))))
	default:
		r.Rate = max(1, int(math.Round(sc.rate.draw(rng, 0.5*8/iter.Seconds()))))
	}
	if sc.hog.draw(rng, 0) == 1 {
		// A hog beside the generator, from a random time for a random while.
		r.HogAt = time.Duration(rng.Float64() * 0.6 * float64(d)).Round(time.Second)
		r.HogFor = d - r.HogAt
		if rng.IntN(2) == 0 {
			r.HogFor = time.Duration((0.2 + 0.4*rng.Float64()) * float64(d)).Round(time.Second)
		}
	}
	r.Target = cfg
	return r
}

// drawKnee makes a stress ramp past a saturate fault: the VUs ramp from 0
// over 20–40 s (or the scenario's duration) and hold a few seconds; the
// slots put the knee at the drawn onset fraction of the ramp.
func drawKnee(sc scenario, rng *rand.Rand, r runSpec, cfg target.Config, f target.Fault) runSpec {
	r.Load = "ramping-vus"
	r.Ramp = sc.duration.drawDur(rng, time.Duration(20+rng.IntN(21))*time.Second).Round(time.Second)
	r.Hold = time.Duration(3+rng.IntN(3)) * time.Second
	r.Duration = r.Ramp + r.Hold
	r.VUs = max(4, int(math.Round(sc.vus.draw(rng, 40))))
	r.Paths = r.Paths[:1]
	f.Endpoint, r.FaultPath = "", ""
	frac := sc.onset.draw(rng, 0.2+0.6*rng.Float64())
	lat := float64(cfg.Latency) * routeWeight(r.Paths[0])
	hold := float64(f.Hold)
	// Each VU spends hold of every lat+hold in a slot: the slots fill at
	// slots·(lat+hold)/hold VUs.
	per := (lat + hold) / hold
	f.Slots = max(1, int(math.Round(frac*float64(r.VUs)/per)))
	r.KneeVUs = float64(f.Slots) * per
	cfg.Faults = []target.Fault{f}
	r.Target = cfg
	return r
}
