package loadtest

import (
	"cmp"
	"slices"
	"strings"

	"github.com/loadlens/loadlens/metrics"
)

// Breakdown is an [Output] that aggregates every metric per scenario, and
// per group within each scenario, for k6's full end-of-test summary
// (--summary-mode full): give it to [Run] with the other outputs, then to
// [WriteTextSummary] in SummaryEnv.Breakdown. The engine calls it from one
// goroutine; read it after Run returns. The zero value is ready to use.
type Breakdown struct {
	sections map[breakdownKey]*breakdownSection
}

var _ Output = (*Breakdown)(nil)

// breakdownKey is a scenario ("" group) or a group of a scenario.
type breakdownKey struct{ scenario, group string }

type breakdownSection struct {
	totals *metrics.Totals
	checks []Check // in the order they were first seen
}

// Start implements Output.
func (b *Breakdown) Start(RunInfo) error {
	b.sections = map[breakdownKey]*breakdownSection{}
	return nil
}

// AddSamples implements Output: a sample counts in its scenario's section
// and in its group's (k6's: the group it was taken in, not its parents).
func (b *Breakdown) AddSamples(batch []metrics.Sample) {
	for i := range batch {
		s := &batch[i]
		scenario, ok := s.Tags.Get("scenario")
		if !ok {
			continue // vus, vus_max, setup and teardown belong to no scenario
		}
		group, _ := s.Tags.Get("group")
		b.add(breakdownKey{scenario, ""}, s)
		if group != "" {
			b.add(breakdownKey{scenario, group}, s)
		}
	}
}

func (b *Breakdown) add(key breakdownKey, s *metrics.Sample) {
	sec := b.sections[key]
	if sec == nil {
		totals, _ := metrics.NewTotals() // no sub-metrics: no error
		sec = &breakdownSection{totals: totals}
		b.sections[key] = sec
	}
	sec.totals.Add(*s)
	if s.Metric.Name != metrics.Checks {
		return
	}
	name, _ := s.Tags.Get("check")
	i := slices.IndexFunc(sec.checks, func(c Check) bool { return c.Name == name })
	if i < 0 {
		sec.checks = append(sec.checks, Check{Name: name})
		i = len(sec.checks) - 1
	}
	if s.Value != 0 {
		sec.checks[i].Passes++
	} else {
		sec.checks[i].Fails++
	}
}

// Stop implements Output.
func (b *Breakdown) Stop(Result) error { return nil }

// summarySection is one section of the full summary: a scenario, or a
// group in one.
type summarySection struct {
	scenario, group string // group: "::outer::inner", "" for the scenario
	res             Result // the section's metrics and checks, as a run's
}

// summarySections are the sections of res's scenarios and groups, each
// scenario followed by its groups, a parent before its children; metrics
// are aggregated as res's (its duration, its trend stats).
func (b *Breakdown) summarySections(res *Result) []summarySection {
	stats, err := res.Config.Options.trendStats()
	if err != nil {
		stats = metrics.DefaultTrendStats()
	}
	var out []summarySection
	for key, sec := range b.sections {
		r := Result{Duration: res.Duration, Config: res.Config, Metrics: summarize(sec.totals, stats, res.Duration),
			RootGroup: Group{Checks: sec.checks}}
		out = append(out, summarySection{scenario: key.scenario, group: key.group, res: r})
	}
	slices.SortFunc(out, func(x, y summarySection) int {
		return cmp.Or(strings.Compare(x.scenario, y.scenario), strings.Compare(x.group, y.group))
	})
	return out
}
