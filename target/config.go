package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
)

// Profile names a fault profile: how the target misbehaves over time. The
// zero value is [Healthy]. Every profile except Healthy is active in the
// window [Config.FaultAfter, Config.FaultAfter+Config.FaultFor) measured from
// the moment [New] returns. A profile is shorthand for one [Fault] (Degrade
// is FaultStep, ErrorBurst FaultBurst), placed before Config.Faults.
type Profile string

// The fault profiles. Their strength is set by the Config fields named after
// them; see [Config].
const (
	// Healthy injects no fault: only Latency, Jitter, CPUWork and ErrorRate
	// apply.
	Healthy Profile = ""
	// Degrade steps latency up while the fault is active: each load request
	// waits its usual latency × DegradeFactor + DegradeAdd.
	Degrade Profile = "degrade"
	// Leak retains LeakPerRequest bytes per load request while the fault is
	// active, up to LeakMax in total, until Close.
	Leak Profile = "leak"
	// Saturate admits at most Slots load requests at once while the fault is
	// active; each holds its slot for Hold plus CPUWork, and the others queue.
	Saturate Profile = "saturate"
	// ErrorBurst raises the error rate to BurstErrorRate while the fault is
	// active (for FaultFor, 10 s by default), then recovers.
	ErrorBurst Profile = "errors"
)

var profiles = []Profile{Healthy, Degrade, Leak, Saturate, ErrorBurst}

// ParseProfile parses a profile name as the CLI spells it: "healthy" (or the
// empty string), "degrade", "leak", "saturate" or "errors". Case and
// surrounding spaces are ignored.
func ParseProfile(s string) (Profile, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "healthy" {
		return Healthy, nil
	}
	for _, p := range profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown profile %q: want one of %s", s, profileNames())
}

func profileNames() string {
	names := make([]string, len(profiles))
	for i, p := range profiles {
		names[i] = p.String()
	}
	return strings.Join(names, ", ")
}

// String returns the profile's name; Healthy is "healthy".
func (p Profile) String() string {
	if p == Healthy {
		return "healthy"
	}
	return string(p)
}

// MarshalText encodes the profile as its name.
func (p Profile) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes a profile name with [ParseProfile].
func (p *Profile) UnmarshalText(b []byte) error {
	v, err := ParseProfile(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// Defaults that Config's zero fields stand for, and the bounds it enforces.
const (
	// DefaultDegradeFactor is Config.DegradeFactor's default.
	DefaultDegradeFactor = 3.0
	// DefaultDegradeAdd is Config.DegradeAdd's default.
	DefaultDegradeAdd = 20 * time.Millisecond
	// DefaultLeakPerRequest is Config.LeakPerRequest's default, 1 KiB.
	DefaultLeakPerRequest = 1 << 10
	// DefaultLeakMax is Config.LeakMax's default, 256 MiB.
	DefaultLeakMax = 256 << 20
	// DefaultSlots is Config.Slots's default.
	DefaultSlots = 8
	// DefaultHold is Config.Hold's default.
	DefaultHold = 10 * time.Millisecond
	// DefaultBurstErrorRate is Config.BurstErrorRate's default.
	DefaultBurstErrorRate = 0.12
	// DefaultBurstFor is Config.FaultFor's default for the ErrorBurst profile.
	DefaultBurstFor = 10 * time.Second
	// DefaultShutdownGrace is Config.ShutdownGrace's default.
	DefaultShutdownGrace = 5 * time.Second

	// MaxLatency bounds Latency, Jitter, DegradeAdd, Hold and CPUWork.
	MaxLatency = time.Minute
	// MaxLeak bounds LeakMax so that a typo cannot exhaust the machine.
	MaxLeak = 4 << 30 // 4 GiB
	// MaxDelay bounds /delay/{ms}.
	MaxDelay = 30 * time.Second
	// MaxBytes bounds /bytes/{n}.
	MaxBytes = 16 << 20 // 16 MiB
)

// Config describes the demo target. The zero value is a healthy, fast
// target: no added latency, no errors, no fault. Zero numeric fields stand
// for the Default… constants where one exists. A Config is plain data; [New]
// copies it.
//
// "Load routes" are /, /api/products, /api/products/{id}, /api/login and
// /api/checkout: latency, jitter, CPU work, errors and every profile apply to
// them only. The utility routes (/status, /delay, /bytes, /healthz,
// /metrics) behave exactly as asked.
type Config struct {
	// Latency is the base time a load request waits before it is answered
	// (default 0). Each API route multiplies it by its cost weight: / and
	// /api/products/{id} ×1, /api/products ×2, /api/login ×3, /api/checkout
	// ×5. Waiting honours the request context. At most MaxLatency.
	Latency time.Duration `json:"latency"`
	// Jitter adds a uniformly distributed extra wait in [0, Jitter) to every
	// load request, drawn deterministically from Seed and the request's
	// arrival number (default 0).
	Jitter time.Duration `json:"jitter"`
	// CPUWork is CPU time burnt per load request by a busy loop (default 0).
	// With the Saturate profile it is burnt while holding a slot. It spins
	// on the wall clock, so keep it 0 in tests under testing/synctest.
	CPUWork time.Duration `json:"cpuWork"`
	// ErrorRate is the fraction, in [0, 1], of load requests answered 500 or
	// 503 (default 0), at a resolution of 1e-6. The choice is deterministic:
	// the n-th arriving request fails when ⌊(n+1)·r+φ⌋ > ⌊n·r+φ⌋, with the
	// phase φ ∈ [0, 1) drawn from Seed, so any N consecutive requests hold
	// ⌊N·r⌋ or ⌈N·r⌉ errors, exactly N·r when that is a whole number.
	ErrorRate float64 `json:"errorRate"`
	// RandomErrors draws each load request's failure at random (from Seed
	// and its arrival number) at ErrorRate, instead of spreading failures
	// evenly: counts then vary as a binomial's, as real errors do.
	RandomErrors bool `json:"randomErrors"`
	// Spread makes latency log-normal: each load request's Latency (× its
	// weight) is multiplied by exp(Spread·Z − Spread²/2), Z standard
	// normal drawn from Seed and the request's arrival number, which keeps
	// the mean and gives a right tail as real services have (default 0:
	// fixed latency; 0.5 is a typical service). At most 3.
	Spread float64 `json:"spread"`
	// Seed drives jitter, spread, the error phase and the 500-or-503
	// choice (default 0, itself a valid seed). The same Seed gives the same
	// sequence.
	Seed uint64 `json:"seed"`

	// Epoch is the instant from which faults are timed: FaultAfter, each
	// Fault's At and For, and the events log's offsets (default: when New
	// returns). A load generator in another process can share it to start
	// its run at the same instant.
	Epoch time.Time `json:"epoch"`
	// Profile is the fault profile (default Healthy).
	Profile Profile `json:"profile"`
	// FaultAfter is when the fault starts, from Epoch (default 0: at
	// once).
	FaultAfter time.Duration `json:"faultAfter"`
	// FaultFor is how long the fault lasts (default 0: until Close; for
	// ErrorBurst it means DefaultBurstFor, 10 s).
	FaultFor time.Duration `json:"faultFor"`

	// DegradeFactor multiplies the latency of a load request during a
	// Degrade fault (default 3; at least 1).
	DegradeFactor float64 `json:"degradeFactor"`
	// DegradeAdd is added to the latency of a load request during a Degrade
	// fault (default 20 ms).
	DegradeAdd time.Duration `json:"degradeAdd"`

	// LeakPerRequest is how many bytes each load request retains during a
	// Leak fault (default 1 KiB, at most LeakMax). Memory grows by
	// LeakPerRequest × request rate: 1 KiB at 3000 req/s is 3 MiB/s, which
	// stays under the default cap for about 85 s. For a soak of T seconds at
	// R req/s, LeakMax / (R × T) keeps the growth steady to the end.
	LeakPerRequest int64 `json:"leakPerRequest"`
	// LeakMax caps the retained bytes (default 256 MiB, at most MaxLeak).
	// Once reached, requests retain nothing more. Close releases it all.
	LeakMax int64 `json:"leakMax"`

	// Slots is the concurrency limit of a Saturate fault (default 8). Load
	// requests beyond it wait for a slot, honouring their context, so
	// throughput plateaus at about Slots / (Hold + CPUWork) requests per
	// second.
	Slots int `json:"slots"`
	// Hold is how long a request keeps its slot during a Saturate fault,
	// on top of CPUWork and after Latency and Jitter (default 10 ms).
	Hold time.Duration `json:"hold"`

	// BurstErrorRate is the error rate during an ErrorBurst fault, in
	// [0, 1] (default 0.12). ErrorRate applies outside the burst.
	BurstErrorRate float64 `json:"burstErrorRate"`

	// Faults are injected faults, each with its kind, endpoint and window
	// (see [Fault]); they apply together, after Profile's.
	Faults []Fault `json:"faults"`
	// Events receives the events log while Serve runs: one JSON object a
	// line ([Event]) when each fault starts and ends, at the time it does
	// (default: none; [Server.Events] keeps them too).
	Events io.Writer `json:"-"`

	// ShutdownGrace bounds the graceful shutdown of Serve once its context
	// ends; requests still running after it are cancelled (default 5 s).
	ShutdownGrace time.Duration `json:"shutdownGrace"`

	// Now is the clock that places a request in the fault window (default
	// time.Now). Tests inject one to move across FaultAfter without waiting.
	// Waits (latency, hold) always use real timers.
	Now func() time.Time `json:"-"`
	// Logger receives lifecycle events: listening, fault start, leak cap,
	// shutdown (default: discard).
	Logger *slog.Logger `json:"-"`
}

// Validate reports every invalid field at once, each prefixed by its JSON
// name, joined with errors.Join. It returns nil for a valid Config.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	dur := func(field string, d, limit time.Duration) {
		if d < 0 || d > limit {
			bad(field, "must be in [0, %v], got %v", limit, d)
		}
	}
	rate := func(field string, r float64) {
		if !(r >= 0 && r <= 1) { // also rejects NaN
			bad(field, "must be in [0, 1], got %v", r)
		}
	}
	dur("latency", c.Latency, MaxLatency)
	dur("jitter", c.Jitter, MaxLatency)
	dur("cpuWork", c.CPUWork, MaxLatency)
	rate("errorRate", c.ErrorRate)
	if _, err := ParseProfile(string(c.Profile)); err != nil {
		bad("profile", "%v", err)
	}
	if c.FaultAfter < 0 {
		bad("faultAfter", "must be >= 0, got %v", c.FaultAfter)
	}
	if c.FaultFor < 0 {
		bad("faultFor", "must be >= 0, got %v", c.FaultFor)
	}
	if c.DegradeFactor != 0 && !(c.DegradeFactor >= 1 && c.DegradeFactor <= 1000) {
		bad("degradeFactor", "must be 0 (default %v) or in [1, 1000], got %v", DefaultDegradeFactor, c.DegradeFactor)
	}
	dur("degradeAdd", c.DegradeAdd, MaxLatency)
	if c.LeakMax < 0 || c.LeakMax > MaxLeak {
		bad("leakMax", "must be in [0, %d] bytes, got %d", int64(MaxLeak), c.LeakMax)
	}
	leakMax := cmp0(c.LeakMax, DefaultLeakMax)
	if c.LeakPerRequest < 0 || c.LeakPerRequest > leakMax {
		bad("leakPerRequest", "must be in [0, leakMax=%d] bytes, got %d", leakMax, c.LeakPerRequest)
	}
	if c.Slots < 0 || c.Slots > 1<<16 {
		bad("slots", "must be in [0, 65536], got %d", c.Slots)
	}
	dur("hold", c.Hold, MaxLatency)
	rate("burstErrorRate", c.BurstErrorRate)
	if !(c.Spread >= 0 && c.Spread <= 3) {
		bad("spread", "must be in [0, 3], got %v", c.Spread)
	}
	for i, f := range c.Faults {
		f.validate(fmt.Sprintf("faults[%d]", i), leakMax, &errs)
	}
	dur("shutdownGrace", c.ShutdownGrace, 10*time.Minute)
	return errors.Join(errs...)
}

// cmp0 returns v, or def when v is zero.
func cmp0[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// withDefaults returns c with every zero field that has a default filled in.
func (c Config) withDefaults() Config {
	c.Profile, _ = ParseProfile(string(c.Profile)) // validated
	c.DegradeFactor = cmp0(c.DegradeFactor, DefaultDegradeFactor)
	c.DegradeAdd = cmp0(c.DegradeAdd, DefaultDegradeAdd)
	c.LeakPerRequest = cmp0(c.LeakPerRequest, DefaultLeakPerRequest)
	c.LeakMax = cmp0(c.LeakMax, DefaultLeakMax)
	c.LeakPerRequest = min(c.LeakPerRequest, c.LeakMax)
	c.Slots = cmp0(c.Slots, DefaultSlots)
	c.Hold = cmp0(c.Hold, DefaultHold)
	c.BurstErrorRate = cmp0(c.BurstErrorRate, DefaultBurstErrorRate)
	c.ShutdownGrace = cmp0(c.ShutdownGrace, DefaultShutdownGrace)
	if c.Profile == ErrorBurst {
		c.FaultFor = cmp0(c.FaultFor, DefaultBurstFor)
	}
	faults := make([]Fault, 0, len(c.Faults)+1)
	if f, ok := c.profileFault(); ok {
		faults = append(faults, f)
	}
	for _, f := range c.Faults {
		faults = append(faults, f.WithDefaults())
	}
	c.Faults = faults
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// profileFault returns the Fault that Profile stands for, with the
// profile's fields (defaults filled in).
func (c Config) profileFault() (Fault, bool) {
	f := Fault{At: c.FaultAfter, For: c.FaultFor}
	switch c.Profile {
	case Degrade:
		f.Kind, f.Factor, f.Delay = FaultStep, c.DegradeFactor, c.DegradeAdd
	case Leak:
		f.Kind, f.Bytes = FaultLeak, c.LeakPerRequest
	case Saturate:
		f.Kind, f.Slots, f.Hold = FaultSaturate, c.Slots, c.Hold
	case ErrorBurst:
		f.Kind, f.Rate = FaultBurst, c.BurstErrorRate
	default:
		return Fault{}, false
	}
	return f, true
}

// configJSON is Config's wire form: durations are k6 strings ("30s").
type configJSON struct {
	Latency        jsonDuration `json:"latency,omitzero"`
	Jitter         jsonDuration `json:"jitter,omitzero"`
	CPUWork        jsonDuration `json:"cpuWork,omitzero"`
	ErrorRate      float64      `json:"errorRate,omitzero"`
	RandomErrors   bool         `json:"randomErrors,omitzero"`
	Spread         float64      `json:"spread,omitzero"`
	Seed           uint64       `json:"seed,omitzero"`
	Epoch          time.Time    `json:"epoch,omitzero"`
	Profile        Profile      `json:"profile,omitzero"`
	FaultAfter     jsonDuration `json:"faultAfter,omitzero"`
	FaultFor       jsonDuration `json:"faultFor,omitzero"`
	DegradeFactor  float64      `json:"degradeFactor,omitzero"`
	DegradeAdd     jsonDuration `json:"degradeAdd,omitzero"`
	LeakPerRequest int64        `json:"leakPerRequest,omitzero"`
	LeakMax        int64        `json:"leakMax,omitzero"`
	Slots          int          `json:"slots,omitzero"`
	Hold           jsonDuration `json:"hold,omitzero"`
	BurstErrorRate float64      `json:"burstErrorRate,omitzero"`
	ShutdownGrace  jsonDuration `json:"shutdownGrace,omitzero"`
	Faults         []Fault      `json:"faults,omitzero"`
}

// MarshalJSON encodes c with durations as k6 strings ("1m30s") and zero
// fields left out. Now, Logger and Events are not encoded.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.wire())
}

func (c Config) wire() configJSON {
	return configJSON{
		jsonDuration(c.Latency), jsonDuration(c.Jitter), jsonDuration(c.CPUWork), c.ErrorRate, c.RandomErrors, c.Spread,
		c.Seed, c.Epoch, c.Profile, jsonDuration(c.FaultAfter), jsonDuration(c.FaultFor), c.DegradeFactor, jsonDuration(c.DegradeAdd),
		c.LeakPerRequest, c.LeakMax, c.Slots, jsonDuration(c.Hold), c.BurstErrorRate, jsonDuration(c.ShutdownGrace), c.Faults,
	}
}

// UnmarshalJSON decodes c from JSON where durations are k6 strings ("30s")
// or numbers of milliseconds. Fields absent from the JSON keep their value;
// Now, Logger and Events are untouched.
func (c *Config) UnmarshalJSON(b []byte) error {
	w := c.wire()
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	c.Latency, c.Jitter, c.CPUWork = time.Duration(w.Latency), time.Duration(w.Jitter), time.Duration(w.CPUWork)
	c.ErrorRate, c.RandomErrors, c.Spread = w.ErrorRate, w.RandomErrors, w.Spread
	c.Seed, c.Epoch, c.Profile, c.Faults = w.Seed, w.Epoch, w.Profile, w.Faults
	c.FaultAfter, c.FaultFor = time.Duration(w.FaultAfter), time.Duration(w.FaultFor)
	c.DegradeFactor, c.DegradeAdd = w.DegradeFactor, time.Duration(w.DegradeAdd)
	c.LeakPerRequest, c.LeakMax = w.LeakPerRequest, w.LeakMax
	c.Slots, c.Hold = w.Slots, time.Duration(w.Hold)
	c.BurstErrorRate, c.ShutdownGrace = w.BurstErrorRate, time.Duration(w.ShutdownGrace)
	return nil
}

// jsonDuration is a time.Duration spelt as a k6 string in JSON.
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		ns := v * float64(time.Millisecond)
		if math.IsNaN(ns) || math.Abs(ns) >= math.MaxInt64 {
			return fmt.Errorf("duration %v ms is out of range", v)
		}
		*d = jsonDuration(ns)
		return nil
	case string:
		p, err := parseDuration(v)
		if err != nil {
			return err
		}
		*d = jsonDuration(p)
		return nil
	}
	return fmt.Errorf("duration must be a string like \"30s\" or a number of milliseconds, got %s", b)
}

// parseDuration parses a Go duration string; a plain number means
// milliseconds, as in k6.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		ns := ms * float64(time.Millisecond)
		if math.IsNaN(ns) || math.Abs(ns) >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(ns), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. \"30s\", \"500ms\" or milliseconds", s)
	}
	return d, nil
}
