package anomaly

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/scenarios"
)

// The load schedule: where the load is steady, so that latency and memory
// are compared only with themselves at the same load, and planned ramps
// never alert.

// knot is a point of a scenario's planned load: level at offset t. Two
// knots at the same t are a jump.
type knot struct {
	t     time.Duration
	level float64
}

// scenarioLoad is one scenario's planned load over time, in VUs or
// iterations per second (unit).
type scenarioLoad struct {
	name  string
	unit  string
	knots []knot
}

// planLoads returns each scenario's planned load, or false when a scenario
// has no schedule that says its load (iteration-count executors,
// externally controlled) or there are none.
func planLoads(sc scenarios.Scenarios) ([]scenarioLoad, bool) {
	if len(sc) == 0 {
		return nil, false
	}
	var out []scenarioLoad
	for name, cfg := range sc {
		l, ok := configLoad(cfg)
		if !ok {
			return nil, false
		}
		l.name = name
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b scenarioLoad) int { return strings.Compare(a.name, b.name) })
	return out, true
}

func configLoad(cfg scenarios.Config) (scenarioLoad, bool) {
	start := cfg.Base().StartTime
	stages := func(level float64, st []scenarios.Stage, scale float64) []knot {
		ks := []knot{{start, level}}
		t := start
		for _, s := range st {
			t += s.Duration
			ks = append(ks, knot{t, float64(s.Target) * scale})
		}
		return ks
	}
	perSecond := func(unit time.Duration) float64 {
		if unit <= 0 {
			unit = time.Second
		}
		return float64(time.Second) / float64(unit)
	}
	switch c := cfg.(type) {
	case scenarios.ConstantVUs:
		return scenarioLoad{unit: "vus", knots: []knot{{start, float64(max(c.VUs, 1))}, {start + c.Duration, float64(max(c.VUs, 1))}}}, true
	case *scenarios.ConstantVUs:
		return configLoad(*c)
	case scenarios.RampingVUs:
		v := int64(1)
		if c.StartVUs != nil {
			v = *c.StartVUs
		}
		return scenarioLoad{unit: "vus", knots: stages(float64(v), c.Stages, 1)}, true
	case *scenarios.RampingVUs:
		return configLoad(*c)
	case scenarios.ConstantArrivalRate:
		r := float64(c.Rate) * perSecond(c.TimeUnit)
		return scenarioLoad{unit: "/s", knots: []knot{{start, r}, {start + c.Duration, r}}}, true
	case *scenarios.ConstantArrivalRate:
		return configLoad(*c)
	case scenarios.RampingArrivalRate:
		ps := perSecond(c.TimeUnit)
		return scenarioLoad{unit: "/s", knots: stages(float64(c.StartRate)*ps, c.Stages, ps)}, true
	case *scenarios.RampingArrivalRate:
		return configLoad(*c)
	}
	return scenarioLoad{}, false
}

// levelOver returns the scenario's load at the start and end of (t1, t2),
// an interval between consecutive breakpoints, and whether it runs then.
func (l scenarioLoad) levelOver(t1, t2 time.Duration) (from, to float64, active bool) {
	ks := l.knots
	if len(ks) == 0 || t1 < ks[0].t || t2 > ks[len(ks)-1].t {
		return 0, 0, false
	}
	for i := 0; i+1 < len(ks); i++ {
		a, b := ks[i], ks[i+1]
		if a.t <= t1 && t2 <= b.t && b.t > a.t {
			at := func(t time.Duration) float64 {
				return a.level + (b.level-a.level)*float64(t-a.t)/float64(b.t-a.t)
			}
			return at(t1), at(t2), true
		}
	}
	return 0, 0, false
}

// planSteady returns the plan's steady intervals: consecutive stretches in
// which every scenario's load is constant, with the same loads, merged.
func planSteady(loads []scenarioLoad) []steadyPlan {
	var ts []time.Duration
	for _, l := range loads {
		for _, k := range l.knots {
			ts = append(ts, k.t)
		}
	}
	slices.Sort(ts)
	ts = slices.Compact(ts)
	var out []steadyPlan
	for i := 0; i+1 < len(ts); i++ {
		t1, t2 := ts[i], ts[i+1]
		steady, total := true, 0.0
		var key strings.Builder
		for _, l := range loads {
			from, to, active := l.levelOver(t1, t2)
			if !active {
				continue
			}
			if math.Abs(from-to) > 1e-9 {
				steady = false
				break
			}
			total += from
			fmt.Fprintf(&key, "%s=%g%s;", l.name, from, l.unit)
		}
		if !steady || total <= 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].end == t1 && out[n-1].key == key.String() {
			out[n-1].end = t2
			continue
		}
		out = append(out, steadyPlan{start: t1, end: t2, load: total, key: key.String()})
	}
	return out
}

type steadyPlan struct {
	start, end time.Duration
	load       float64
	key        string
}

// steadySpans returns the timeline's steady spans after settling, and
// where they came from: the plan, the VU series, or an assumption. Spans
// shorter than MinSteady (down to ShortSteady) are kept: the detectors
// judge them with stronger evidence.
func (a *analysis) steadySpans() ([]span, string) {
	minLen := a.points(a.o.ShortSteady)
	settle := func(n int) int { return a.points(a.settleFor(time.Duration(n) * a.step)) }
	if loads, ok := planLoads(a.r.Config.Scenarios); ok {
		var out []span
		for _, p := range planSteady(loads) {
			from := a.index(p.start)
			i := from + a.points(a.settleFor(p.end-p.start))
			j := min(int(math.Floor(float64(p.end-a.base)/float64(a.step))), a.n)
			if j-i >= minLen {
				out = append(out, span{a: i, b: j, load: p.load, key: p.key, from: from})
			}
		}
		return out, "plan"
	}
	if vus := a.series("vus"); vus != nil {
		return flatSpans(vus, settle, minLen), "vus"
	}
	if s := settle(a.n); a.n-s >= minLen {
		return []span{{a: s, b: a.n, key: "assumed"}}, "assumed"
	}
	return nil, "assumed"
}

// settleFor returns the settling time of a steady stage of length d:
// SettleTime, or a fifth of d when that is shorter (at least 2 s).
func (a *analysis) settleFor(d time.Duration) time.Duration {
	return min(a.o.SettleTime, max(2*time.Second, d/5))
}

// short reports whether a steady span is shorter than MinSteady: its
// detectors then need stronger evidence.
func (a *analysis) short(sp span) bool { return a.at(sp.b)-a.at(sp.a) < a.o.MinSteady }

// flatSpans returns the stretches of vus that stay within max(0.5, 2 %)
// of their first value, trimmed by settle(length of the stretch), that
// keep at least minLen points. NaN points continue a stretch.
func flatSpans(vus []float64, settle func(n int) int, minLen int) []span {
	var out []span
	start, level := -1, 0.0
	flush := func(end int) {
		if start < 0 || level < 1 {
			return
		}
		if s := settle(end - start); end-start-s >= minLen {
			out = append(out, span{a: start + s, b: end, load: level, key: fmt.Sprintf("vus=%g", level), from: start})
		}
	}
	for i, v := range vus {
		if math.IsNaN(v) {
			continue
		}
		if start < 0 || math.Abs(v-level) > max(0.5, 0.02*level) {
			flush(i)
			start, level = i, v
		}
	}
	flush(len(vus))
	return out
}
