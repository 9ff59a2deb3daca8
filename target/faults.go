package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FaultKind names what a [Fault] does to the requests it applies to.
type FaultKind string

// The fault kinds. Each uses the Fault fields named in its comment; the
// others are ignored.
const (
	// FaultStep multiplies the latency of each request by Factor and adds
	// Delay (defaults ×3 and +20 ms when both are zero): a latency step.
	FaultStep FaultKind = "step"
	// FaultDrift adds Slope of latency per second since the fault started
	// (default 2 ms per second): latency that keeps rising.
	FaultDrift FaultKind = "drift"
	// FaultBurst answers Rate of the requests (default 0.12) with 500 or
	// 503, evenly spread.
	FaultBurst FaultKind = "burst"
	// FaultStall holds every request that arrives during a stall until
	// the stall ends: stalls of Length (default 1 s) start every Period
	// (default 5 s) from the fault's start, as a stop-the-world pause or a
	// lock convoy would.
	FaultStall FaultKind = "stall"
	// FaultLeak retains Bytes per request (default 1 KiB), up to the
	// Config's LeakMax over all faults, until Close.
	FaultLeak FaultKind = "leak"
	// FaultSaturate admits at most Slots requests at once (default 8);
	// each holds its slot for Hold (default 10 ms) plus the Config's
	// CPUWork, the others queue: throughput plateaus and latency grows with
	// the queue.
	FaultSaturate FaultKind = "saturate"
	// FaultException answers Rate of the requests (default 1) with 200 and
	// an HTML page where the route promises JSON, as a misrouted proxy
	// does: a script that parses the body throws.
	FaultException FaultKind = "exception"
	// FaultReset resets the connection (TCP RST, no answer) of Rate of the
	// requests (default 1): the client sees "connection reset by peer".
	FaultReset FaultKind = "reset"
	// FaultRefuse closes the listener and every open connection for the
	// fault's window, then listens again on the same address: new
	// connections are refused. It applies to the whole Server (Endpoint
	// must be empty) and only while Serve runs.
	FaultRefuse FaultKind = "refuse"
)

// FaultKinds lists every fault kind.
var FaultKinds = []FaultKind{FaultStep, FaultDrift, FaultBurst, FaultStall, FaultLeak, FaultSaturate, FaultException, FaultReset, FaultRefuse}

// Defaults of the Fault fields.
const (
	// DefaultDriftSlope is Fault.Slope's default for FaultDrift.
	DefaultDriftSlope = 2 * time.Millisecond
	// DefaultStallPeriod and DefaultStallLength are Fault.Period's and
	// Fault.Length's defaults for FaultStall.
	DefaultStallPeriod = 5 * time.Second
	DefaultStallLength = time.Second
)

// Fault is one injected fault: what it does (Kind and the fields it
// uses), to which requests (Endpoint), and when (At, For), measured from
// the Config's Epoch (by default the moment [New] returns). It applies to
// load routes only. The zero value of every field but Kind means its
// default.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// Endpoint is the request path the fault applies to, exactly
	// ("/api/products/7"); empty means every load route.
	Endpoint string `json:"endpoint,omitempty"`
	// At is when the fault starts; For how long it lasts (0: until Close).
	At  time.Duration `json:"at"`
	For time.Duration `json:"for"`

	// Factor multiplies the latency (step; at least 1).
	Factor float64 `json:"factor,omitempty"`
	// Delay is added to the latency (step).
	Delay time.Duration `json:"delay,omitempty"`
	// Slope is the latency added per second since the fault started
	// (drift).
	Slope time.Duration `json:"slope,omitempty"`
	// Rate is the share of the fault's requests it hits, in [0, 1]
	// (burst, exception, reset), evenly spread: any N consecutive requests
	// of the fault hold ⌊N·Rate⌋ or ⌈N·Rate⌉ hits.
	Rate float64 `json:"rate,omitempty"`
	// Period and Length are the stalls' period and length (stall; Length
	// at most Period).
	Period time.Duration `json:"period,omitempty"`
	Length time.Duration `json:"length,omitempty"`
	// Bytes is the memory each request retains (leak).
	Bytes int64 `json:"bytes,omitempty"`
	// Slots and Hold are the concurrency limit and the time each request
	// holds its slot (saturate).
	Slots int           `json:"slots,omitempty"`
	Hold  time.Duration `json:"hold,omitempty"`
}

// ParseFaultKind parses a fault kind name; case and surrounding spaces are
// ignored.
func ParseFaultKind(s string) (FaultKind, error) {
	k := FaultKind(strings.ToLower(strings.TrimSpace(s)))
	for _, v := range FaultKinds {
		if k == v {
			return k, nil
		}
	}
	names := make([]string, len(FaultKinds))
	for i, v := range FaultKinds {
		names[i] = string(v)
	}
	return "", fmt.Errorf("unknown fault %q: want one of %s", s, strings.Join(names, ", "))
}

// ParseFault parses the CLI's spelling of a fault: its kind, then
// comma-separated key=value fields named as in JSON, durations as Go
// strings or milliseconds and bytes with an optional KiB/MiB/GiB suffix:
//
//	step,at=10s,for=20s,endpoint=/api/products,factor=10
//	stall,at=5s,period=5s,length=1s
//	leak,bytes=64KiB
//
// It reports every bad field at once. The result is not yet validated
// against its kind's bounds: [Config.Validate] does that.
func ParseFault(s string) (Fault, error) {
	parts := strings.Split(s, ",")
	kind, err := ParseFaultKind(parts[0])
	if err != nil {
		return Fault{}, err
	}
	f := Fault{Kind: kind}
	var errs []error
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			errs = append(errs, fmt.Errorf("%q: want key=value", p))
			continue
		}
		if err := f.set(k, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %w", s, err)
	}
	return f, nil
}

// set assigns one key=value field of ParseFault.
func (f *Fault) set(k, v string) error {
	dur := func(p *time.Duration) error {
		d, err := parseDuration(v)
		if err == nil {
			*p = d
		}
		return err
	}
	num := func(p *float64) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("want a finite number, got %q", v)
		}
		*p = x
		return nil
	}
	switch k {
	case "endpoint":
		f.Endpoint = v
	case "at":
		return dur(&f.At)
	case "for":
		return dur(&f.For)
	case "factor":
		return num(&f.Factor)
	case "delay":
		return dur(&f.Delay)
	case "slope":
		return dur(&f.Slope)
	case "rate":
		return num(&f.Rate)
	case "period":
		return dur(&f.Period)
	case "length":
		return dur(&f.Length)
	case "bytes":
		b, err := parseBytes(v)
		if err == nil {
			f.Bytes = b
		}
		return err
	case "slots":
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("want an integer, got %q", v)
		}
		f.Slots = n
	case "hold":
		return dur(&f.Hold)
	default:
		return errors.New("unknown field: want endpoint, at, for, factor, delay, slope, rate, period, length, bytes, slots or hold")
	}
	return nil
}

// validate appends the fault's problems, prefixed by path, to errs.
// leakMax is the Config's cap.
func (f Fault) validate(path string, leakMax int64, errs *[]error) {
	bad := func(field, format string, args ...any) {
		*errs = append(*errs, fmt.Errorf("%s.%s: "+format, append([]any{path, field}, args...)...))
	}
	dur := func(field string, d time.Duration) {
		if d < 0 || d > MaxLatency {
			bad(field, "must be in [0, %v], got %v", MaxLatency, d)
		}
	}
	if _, err := ParseFaultKind(string(f.Kind)); err != nil {
		bad("kind", "%v", err)
	}
	if f.Endpoint != "" && !strings.HasPrefix(f.Endpoint, "/") {
		bad("endpoint", "must be a path starting with /, got %q", f.Endpoint)
	}
	if f.Kind == FaultRefuse && f.Endpoint != "" {
		bad("endpoint", "must be empty for refuse: refusing connections affects every route")
	}
	if f.At < 0 {
		bad("at", "must be >= 0, got %v", f.At)
	}
	if f.For < 0 {
		bad("for", "must be >= 0, got %v", f.For)
	}
	if f.Factor != 0 && !(f.Factor >= 1 && f.Factor <= 1000) {
		bad("factor", "must be 0 (default) or in [1, 1000], got %v", f.Factor)
	}
	dur("delay", f.Delay)
	dur("slope", f.Slope)
	dur("period", f.Period)
	dur("length", f.Length)
	dur("hold", f.Hold)
	if !(f.Rate >= 0 && f.Rate <= 1) {
		bad("rate", "must be in [0, 1], got %v", f.Rate)
	}
	if f.Bytes < 0 || f.Bytes > leakMax {
		bad("bytes", "must be in [0, leakMax=%d], got %d", leakMax, f.Bytes)
	}
	if f.Slots < 0 || f.Slots > 1<<16 {
		bad("slots", "must be in [0, 65536], got %d", f.Slots)
	}
	if f.Kind == FaultStall {
		if p, l := cmp0(f.Period, DefaultStallPeriod), cmp0(f.Length, DefaultStallLength); l > p {
			bad("length", "must be at most the period (%v), got %v", p, l)
		}
	}
}

// WithDefaults returns f with its kind's defaults in its zero fields, as
// the Server applies them.
func (f Fault) WithDefaults() Fault {
	switch f.Kind {
	case FaultStep:
		if f.Factor == 0 && f.Delay == 0 {
			f.Factor, f.Delay = DefaultDegradeFactor, DefaultDegradeAdd
		}
		f.Factor = cmp0(f.Factor, 1)
	case FaultDrift:
		f.Slope = cmp0(f.Slope, DefaultDriftSlope)
	case FaultBurst:
		f.Rate = cmp0(f.Rate, DefaultBurstErrorRate)
	case FaultException, FaultReset:
		f.Rate = cmp0(f.Rate, 1)
	case FaultStall:
		f.Period = cmp0(f.Period, DefaultStallPeriod)
		f.Length = cmp0(f.Length, DefaultStallLength)
	case FaultLeak:
		f.Bytes = cmp0(f.Bytes, DefaultLeakPerRequest)
	case FaultSaturate:
		f.Slots = cmp0(f.Slots, DefaultSlots)
		f.Hold = cmp0(f.Hold, DefaultHold)
	}
	return f
}

// String spells the fault as ParseFault reads it, defaults left out.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(string(f.Kind))
	add := func(k, v string) { b.WriteString("," + k + "=" + v) }
	if f.Endpoint != "" {
		add("endpoint", f.Endpoint)
	}
	for _, d := range []struct {
		k string
		v time.Duration
	}{{"at", f.At}, {"for", f.For}, {"delay", f.Delay}, {"slope", f.Slope}, {"period", f.Period}, {"length", f.Length}, {"hold", f.Hold}} {
		if d.v != 0 {
			add(d.k, d.v.String())
		}
	}
	if f.Factor != 0 {
		add("factor", strconv.FormatFloat(f.Factor, 'g', -1, 64))
	}
	if f.Rate != 0 {
		add("rate", strconv.FormatFloat(f.Rate, 'g', -1, 64))
	}
	if f.Bytes != 0 {
		add("bytes", formatBytes(f.Bytes))
	}
	if f.Slots != 0 {
		add("slots", strconv.Itoa(f.Slots))
	}
	return b.String()
}

// faultJSON is Fault's wire form: durations are k6 strings ("30s").
type faultJSON struct {
	Kind     FaultKind    `json:"kind"`
	Endpoint string       `json:"endpoint,omitzero"`
	At       jsonDuration `json:"at,omitzero"`
	For      jsonDuration `json:"for,omitzero"`
	Factor   float64      `json:"factor,omitzero"`
	Delay    jsonDuration `json:"delay,omitzero"`
	Slope    jsonDuration `json:"slope,omitzero"`
	Rate     float64      `json:"rate,omitzero"`
	Period   jsonDuration `json:"period,omitzero"`
	Length   jsonDuration `json:"length,omitzero"`
	Bytes    int64        `json:"bytes,omitzero"`
	Slots    int          `json:"slots,omitzero"`
	Hold     jsonDuration `json:"hold,omitzero"`
}

// MarshalJSON encodes f with durations as k6 strings and zero fields left
// out.
func (f Fault) MarshalJSON() ([]byte, error) {
	return json.Marshal(faultJSON{f.Kind, f.Endpoint, jsonDuration(f.At), jsonDuration(f.For), f.Factor,
		jsonDuration(f.Delay), jsonDuration(f.Slope), f.Rate, jsonDuration(f.Period), jsonDuration(f.Length),
		f.Bytes, f.Slots, jsonDuration(f.Hold)})
}

// UnmarshalJSON decodes f from JSON where durations are k6 strings or
// numbers of milliseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var w faultJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*f = Fault{Kind: w.Kind, Endpoint: w.Endpoint, At: time.Duration(w.At), For: time.Duration(w.For),
		Factor: w.Factor, Delay: time.Duration(w.Delay), Slope: time.Duration(w.Slope), Rate: w.Rate,
		Period: time.Duration(w.Period), Length: time.Duration(w.Length), Bytes: w.Bytes, Slots: w.Slots, Hold: time.Duration(w.Hold)}
	return nil
}

// activeFault is a Fault of a running Server with its state.
type activeFault struct {
	Fault
	index   int
	ratePPM uint64
	phase   uint64
	hits    atomic.Uint64 // requests the fault applied to
	slots   *slots        // saturate only
}

// window reports whether the fault is active el after the Server's start.
func (f *activeFault) window(el time.Duration) bool {
	return el >= f.At && (f.For == 0 || el < f.At+f.For)
}

// appliesTo reports whether the fault is active at el for a request to
// path.
func (f *activeFault) appliesTo(path string, el time.Duration) bool {
	return (f.Endpoint == "" || f.Endpoint == path) && f.window(el)
}

// stallLeft returns how long the stall in progress at el still lasts, or
// 0 outside a stall.
func (f *activeFault) stallLeft(el time.Duration) time.Duration {
	off := (el - f.At) % f.Period
	if off < f.Length {
		return f.Length - off
	}
	return 0
}

// rated reports whether the fault hits a share of its requests (Rate)
// rather than all of them.
func (f *activeFault) rated() bool {
	return f.Kind == FaultBurst || f.Kind == FaultException || f.Kind == FaultReset
}

// hit draws whether the fault's next request is hit, at Rate, evenly
// spread.
func (f *activeFault) hit() bool {
	return failsAt(f.hits.Add(1)-1, f.ratePPM, f.phase)
}
