package telemetry_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/loadtest/telemetry"
)

// scripted is a source that answers with the n-th of its readings, or
// calls read; it records how many reads were ever in flight at once.
type scripted struct {
	readings    []telemetry.Reading
	read        func(ctx context.Context) (telemetry.Reading, error)
	n           atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func (s *scripted) Name() string { return "scripted" }

func (s *scripted) Read(ctx context.Context) (telemetry.Reading, error) {
	cur := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxInFlight.Load()
		if cur <= m || s.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	i := s.n.Add(1) - 1
	if s.read != nil {
		return s.read(ctx)
	}
	return s.readings[min(int(i), len(s.readings)-1)], nil
}

// collect runs s until ctx ends and returns every scrape and the summaries.
func collect(ctx context.Context, s *telemetry.Scraper) ([]telemetry.Scrape, []telemetry.Summary) {
	var mu sync.Mutex
	var out []telemetry.Scrape
	sums := s.Run(ctx, func(sc telemetry.Scrape) {
		mu.Lock()
		out = append(out, sc)
		mu.Unlock()
	})
	return out, sums
}

func TestScraperDerivesRatesAndMeans(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		r := func(cpu, rss, sum, count float64) telemetry.Reading {
			return telemetry.Reading{
				telemetry.MetricCPU: {Type: telemetry.TypeCounter, Value: cpu},
				telemetry.MetricRSS: {Type: telemetry.TypeGauge, Value: rss},
				"work_seconds":      {Type: telemetry.TypeHistogram, Value: sum, Count: count},
			}
		}
		src := &scripted{readings: []telemetry.Reading{
			r(10, 100, 0, 0),
			r(10.5, 200, 1, 2),
			r(11.5, 300, 1, 2),   // no observations: no mean
			r(0.25, 400, 4, 5),   // CPU counter reset (restart)
			r(0.75, 500, 0.5, 1), // histogram reset
		}}
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 4500*time.Millisecond)
		defer cancel()
		s := &telemetry.Scraper{Sources: []telemetry.Source{src}, Metrics: []string{"work_seconds"}}
		scrapes, sums := collect(ctx, s)
		require.Len(t, scrapes, 5, "at once, then every second")

		at := func(sec float64) time.Time { return start.Add(time.Duration(sec * float64(time.Second))) }
		var cpu, rss, mean []telemetry.Point
		for i, sc := range scrapes {
			require.NoError(t, sc.Err)
			assert.Equal(t, at(float64(i)), sc.Time)
			for _, p := range sc.Points {
				switch p.Metric {
				case telemetry.MetricCPU:
					cpu = append(cpu, p)
				case telemetry.MetricRSS:
					rss = append(rss, p)
				default:
					mean = append(mean, p)
				}
			}
		}
		assert.Equal(t, []telemetry.Point{
			{Metric: telemetry.MetricCPU, Kind: telemetry.KindRate, Unit: "s/s", Value: 0.5, Time: at(0.5)},
			{Metric: telemetry.MetricCPU, Kind: telemetry.KindRate, Unit: "s/s", Value: 1, Time: at(1.5)},
			{Metric: telemetry.MetricCPU, Kind: telemetry.KindRate, Unit: "s/s", Value: 0.25, Time: at(2.5)},
			{Metric: telemetry.MetricCPU, Kind: telemetry.KindRate, Unit: "s/s", Value: 0.5, Time: at(3.5)},
		}, cpu)
		require.Len(t, rss, 5)
		assert.Equal(t, telemetry.Point{Metric: telemetry.MetricRSS, Kind: telemetry.KindGauge, Unit: "bytes", Value: 300, Time: at(2)}, rss[2])
		assert.Equal(t, []telemetry.Point{
			{Metric: "work_seconds", Kind: telemetry.KindMean, Unit: "s", Value: 0.5, Time: at(0.5)},
			{Metric: "work_seconds", Kind: telemetry.KindMean, Unit: "s", Value: 1, Time: at(2.5)},
			{Metric: "work_seconds", Kind: telemetry.KindMean, Unit: "s", Value: 0.5, Time: at(3.5)},
		}, mean)
		assert.Equal(t, []telemetry.Summary{{
			Source: "scripted", Scrapes: 5, CPUAvgPct: (50 + 100 + 25 + 50) / 4.0, CPUMaxPct: 100,
			RSSFirstBytes: 100, RSSLastBytes: 500, RSSMaxBytes: 500,
		}}, sums)
	})
}

func TestScraperFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		read func(ctx context.Context) (telemetry.Reading, error)
		// run is how long the scraper runs; want the summary it returns.
		run          time.Duration
		want         telemetry.Summary
		wantDuration time.Duration // of each scrape
	}{
		{
			name: "hanging source times out every interval",
			read: func(ctx context.Context) (telemetry.Reading, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
			run:          2900 * time.Millisecond, // scrapes at 0, 1, 2, each 800 ms
			want:         telemetry.Summary{Source: "scripted", Scrapes: 3, Errors: 3, LastError: "timed out after 800ms: context deadline exceeded"},
			wantDuration: 800 * time.Millisecond,
		},
		{
			name: "failing source",
			read: func(context.Context) (telemetry.Reading, error) { return nil, errors.New("connection refused") },
			run:  2500 * time.Millisecond,
			want: telemetry.Summary{Source: "scripted", Scrapes: 3, Errors: 3, LastError: "connection refused"},
		},
		{
			name: "unsupported source is read once",
			read: func(context.Context) (telemetry.Reading, error) {
				return nil, errors.Join(errors.New("reading a process on plan9"), errors.ErrUnsupported)
			},
			run:  time.Hour,
			want: telemetry.Summary{Source: "scripted", Scrapes: 1, Errors: 1, LastError: "reading a process on plan9\nunsupported operation"},
		},
		{
			name: "standard and asked-for metrics missing",
			read: func(context.Context) (telemetry.Reading, error) {
				return telemetry.Reading{telemetry.MetricGoroutines: {Type: telemetry.TypeGauge, Value: 3}}, nil
			},
			run: 1500 * time.Millisecond,
			want: telemetry.Summary{Source: "scripted", Scrapes: 2, GoroutinesMax: 3,
				Missing: []string{telemetry.MetricRSS, telemetry.MetricCPU, "queue_depth"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				src := &scripted{read: tc.read}
				ctx, cancel := context.WithTimeout(t.Context(), tc.run)
				defer cancel()
				s := &telemetry.Scraper{Sources: []telemetry.Source{src}, Metrics: []string{"queue_depth"}}
				scrapes, sums := collect(ctx, s)
				assert.Equal(t, []telemetry.Summary{tc.want}, sums)
				require.Len(t, scrapes, int(tc.want.Scrapes))
				for _, sc := range scrapes {
					assert.Equal(t, tc.want.Errors > 0, sc.Err != nil)
					assert.Equal(t, tc.wantDuration, sc.Duration)
				}
				assert.Equal(t, int64(1), src.maxInFlight.Load())
			})
		})
	}
}

// TestScraperOneScrapeInFlight: a source slower than the interval is not
// read twice at once; missed ticks are skipped, not queued.
func TestScraperOneScrapeInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		src := &scripted{read: func(ctx context.Context) (telemetry.Reading, error) {
			time.Sleep(2500 * time.Millisecond) // fake clock
			return telemetry.Reading{}, nil
		}}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s := &telemetry.Scraper{Sources: []telemetry.Source{src}, Interval: time.Second, Timeout: time.Minute}
		scrapes, _ := collect(ctx, s)
		assert.Equal(t, int64(1), src.maxInFlight.Load())
		require.NotEmpty(t, scrapes)
		for i := 1; i < len(scrapes); i++ {
			assert.GreaterOrEqual(t, scrapes[i].Time.Sub(scrapes[i-1].Time), 2500*time.Millisecond)
		}
		assert.Equal(t, int64(len(scrapes)+1), src.n.Load(), "the last read was interrupted by the end and not reported")
	})
}

// TestScraperSources reads several sources at once; one failing does not
// hold up the other.
func TestScraperSources(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		good := &scripted{readings: []telemetry.Reading{{telemetry.MetricRSS: {Type: telemetry.TypeGauge, Value: 1}}}}
		bad := &scripted{read: func(ctx context.Context) (telemetry.Reading, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		ctx, cancel := context.WithTimeout(t.Context(), 2950*time.Millisecond)
		defer cancel()
		s := &telemetry.Scraper{Sources: []telemetry.Source{good, named{bad, "bad"}}, Timeout: 900 * time.Millisecond}
		_, sums := collect(ctx, s)
		require.Len(t, sums, 2)
		assert.Equal(t, "scripted", sums[0].Source)
		assert.Equal(t, int64(3), sums[0].Scrapes)
		assert.Zero(t, sums[0].Errors)
		assert.Equal(t, "bad", sums[1].Source)
		assert.Equal(t, int64(3), sums[1].Errors)
	})
}

type named struct {
	*scripted
	name string
}

func (n named) Name() string { return n.name }
