package target

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RegisterFlags defines one command-line flag per Config field on fs, each
// named prefix + its name ("latency", "jitter", "errors", "profile",
// "fault-after", …) and writing into c. The flags' defaults are c's current
// values, so set c first to change them. Durations take Go strings ("5ms")
// or milliseconds; byte sizes take a number with an optional B, KiB, MiB or
// GiB suffix. Call Validate (or New) after fs.Parse.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	durVar := func(p *time.Duration, name, usage string) {
		fs.Var((*durationFlag)(p), prefix+name, usage)
	}
	durVar(&c.Latency, "latency", "base latency of load requests (× route weight)")
	durVar(&c.Jitter, "jitter", "extra uniform latency in [0, jitter) per load request")
	durVar(&c.CPUWork, "cpu-work", "CPU time burnt per load request")
	fs.Float64Var(&c.ErrorRate, prefix+"errors", c.ErrorRate, "fraction of load requests answered 500/503, in [0, 1]")
	fs.Uint64Var(&c.Seed, prefix+"seed", c.Seed, "seed for jitter and error choices")
	fs.Var((*profileFlag)(&c.Profile), prefix+"profile", "fault profile: "+profileNames())
	durVar(&c.FaultAfter, "fault-after", "when the fault starts, after start-up")
	durVar(&c.FaultFor, "fault-for", "how long the fault lasts (0: until stop; errors profile: 10s)")
	fs.Float64Var(&c.DegradeFactor, prefix+"degrade-factor", c.DegradeFactor, "degrade: latency multiplier (0: 3)")
	durVar(&c.DegradeAdd, "degrade-add", "degrade: latency added (0: 20ms)")
	fs.Var((*byteFlag)(&c.LeakPerRequest), prefix+"leak-per-request", "leak: bytes retained per load request (0: 1KiB)")
	fs.Var((*byteFlag)(&c.LeakMax), prefix+"leak-max", "leak: cap on retained bytes (0: 256MiB)")
	fs.IntVar(&c.Slots, prefix+"slots", c.Slots, "saturate: concurrent load requests admitted (0: 8)")
	durVar(&c.Hold, "hold", "saturate: time a request holds its slot (0: 10ms)")
	fs.Float64Var(&c.BurstErrorRate, prefix+"burst-errors", c.BurstErrorRate, "errors: error rate during the burst (0: 0.12)")
	fs.BoolVar(&c.RandomErrors, prefix+"random-errors", c.RandomErrors, "draw failures at random at --errors, instead of evenly spread")
	fs.Float64Var(&c.Spread, prefix+"spread", c.Spread, "log-normal latency spread σ (0: fixed latency; 0.5 is typical)")
	fs.Var((*faultsFlag)(&c.Faults), prefix+"fault",
		"a fault, repeatable: KIND[,key=value...], KIND one of step, drift, burst, stall, leak, saturate, exception, reset, refuse; "+
			"keys endpoint, at, for, factor, delay, slope, rate, period, length, bytes, slots, hold (e.g. step,at=10s,endpoint=/api/products,factor=10)")
}

// faultsFlag appends a ParseFault spelling to a fault list.
type faultsFlag []Fault

func (f *faultsFlag) String() string {
	if f == nil {
		return ""
	}
	parts := make([]string, len(*f))
	for i, x := range *f {
		parts[i] = x.String()
	}
	return strings.Join(parts, " ")
}

func (f *faultsFlag) Set(s string) error {
	x, err := ParseFault(s)
	if err != nil {
		return err
	}
	*f = append(*f, x)
	return nil
}

type durationFlag time.Duration

func (d *durationFlag) String() string {
	if d == nil {
		return "0s"
	}
	return time.Duration(*d).String()
}

func (d *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
}

type profileFlag Profile

func (p *profileFlag) String() string {
	if p == nil {
		return Healthy.String()
	}
	return Profile(*p).String()
}

func (p *profileFlag) Set(s string) error {
	return (*Profile)(p).UnmarshalText([]byte(s))
}

type byteFlag int64

func (b *byteFlag) String() string {
	if b == nil {
		return "0"
	}
	return formatBytes(int64(*b))
}

func (b *byteFlag) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteFlag(v)
	return nil
}

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseBytes parses a non-negative byte size: digits with an optional B,
// KiB, MiB or GiB suffix (case-insensitive, spaces allowed before it).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	shift := uint(0)
	for _, u := range byteUnits {
		if len(t) >= len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, shift = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || t == "" || t[0] == '+' || t[0] == '-' {
		return 0, fmt.Errorf("invalid byte size %q: want e.g. 4096, 4KiB, 256MiB", s)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("byte size %q is out of range", s)
	}
	return n << shift, nil
}

// formatBytes spells n with the largest binary unit that divides it exactly.
func formatBytes(n int64) string {
	for _, u := range byteUnits {
		if u.shift > 0 && n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
