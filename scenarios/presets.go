package scenarios

import "time"

// PresetParams shape a preset test; a zero field takes the preset's
// default, given in each preset's doc.
type PresetParams struct {
	// VUs is the peak number of VUs; for Breakpoint, maxVUs.
	VUs int64
	// Rate is Breakpoint's final arrival rate, iterations per second.
	Rate int64
	// Duration is the length of the main phase.
	Duration time.Duration
	// RampUp is the length of each ramp; a pointer to 0 means no ramp (the
	// load jumps). nil means the preset's default ramp, scaled with
	// Duration when Duration is given, so that the test keeps the preset's
	// shape: Load's 5m ramps around 30m become 1m40s ramps around 10m, and
	// 10s has ramps of about 1.7s, not 5m.
	RampUp *time.Duration
}

// withDefaults returns p with its zero fields set to the given defaults and
// the ramp length resolved: given, or the default ramp scaled by how
// Duration compares with the default duration d.
func (p PresetParams) withDefaults(vus int64, d, ramp time.Duration) (PresetParams, time.Duration) {
	if p.VUs <= 0 {
		p.VUs = vus
	}
	switch {
	case p.RampUp != nil:
		ramp = max(*p.RampUp, 0)
	case p.Duration > 0 && d > 0:
		// In floating point: ramp × Duration overflows int64 nanoseconds.
		ramp = time.Duration(float64(ramp) * float64(p.Duration) / float64(d)).Round(time.Millisecond)
	}
	if p.Duration <= 0 {
		p.Duration = d
	}
	return p, ramp
}

// part returns vus/div, at least 1.
func part(vus, div int64) int64 { return max(vus/div, 1) }

// Smoke checks that the system works at all under minimal load: VUs
// (default 3) looping for Duration (default 1m), as one constant-vus
// scenario named "smoke". RampUp is not used.
func Smoke(p PresetParams) Scenarios {
	p, _ = p.withDefaults(3, time.Minute, 0)
	return Scenarios{"smoke": ConstantVUs{VUs: p.VUs, Duration: p.Duration}}
}

// Load checks the system under its usual load: one ramping-vus scenario
// "load" rising from 0 to VUs (default 100) over RampUp (default 5m),
// holding for Duration (default 30m), and falling back to 0 over RampUp.
func Load(p PresetParams) Scenarios {
	p, ramp := p.withDefaults(100, 30*time.Minute, 5*time.Minute)
	return Scenarios{"load": RampingVUs{
		StartVUs: new(int64(0)),
		Stages:   []Stage{{ramp, p.VUs}, {p.Duration, p.VUs}, {ramp, 0}},
	}}
}

// Stress climbs beyond the usual load in steps: one ramping-vus scenario
// "stress" rising from 0 to VUs/4 over RampUp, to VUs/2 over Duration, to
// VUs over RampUp, and back to 0 over RampUp. The defaults (VUs 80, RampUp
// 2m, Duration 5m) give the seed's shape: 2m to 20, 5m to 40, 2m to 80,
// 2m to 0.
func Stress(p PresetParams) Scenarios {
	p, ramp := p.withDefaults(80, 5*time.Minute, 2*time.Minute)
	return Scenarios{"stress": RampingVUs{
		StartVUs: new(int64(0)),
		Stages:   []Stage{{ramp, part(p.VUs, 4)}, {p.Duration, part(p.VUs, 2)}, {ramp, p.VUs}, {ramp, 0}},
	}}
}

// Spike jumps from a baseline to a sudden peak and back: one ramping-vus
// scenario "spike" rising from 0 to VUs/5 over RampUp, to VUs over
// Duration, back to VUs/5 over RampUp, and to 0 over Duration. The defaults
// (VUs 50, RampUp 30s, Duration 1m) give the seed's shape: 30s to 10, 1m to
// 50, 30s to 10, 1m to 0.
func Spike(p PresetParams) Scenarios {
	p, ramp := p.withDefaults(50, time.Minute, 30*time.Second)
	base := part(p.VUs, 5)
	return Scenarios{"spike": RampingVUs{
		StartVUs: new(int64(0)),
		Stages:   []Stage{{ramp, base}, {p.Duration, p.VUs}, {ramp, base}, {p.Duration, 0}},
	}}
}

// Soak holds a steady load for a long time to surface leaks and drift: one
// constant-vus scenario "soak" of VUs (default 50) for Duration (default
// 4h). With a RampUp it is a ramping-vus scenario instead: 0 to VUs over
// RampUp, VUs for Duration, back to 0 over RampUp.
func Soak(p PresetParams) Scenarios {
	p, ramp := p.withDefaults(50, 4*time.Hour, 0)
	if ramp <= 0 {
		return Scenarios{"soak": ConstantVUs{VUs: p.VUs, Duration: p.Duration}}
	}
	return Scenarios{"soak": RampingVUs{
		StartVUs: new(int64(0)),
		Stages:   []Stage{{ramp, p.VUs}, {p.Duration, p.VUs}, {ramp, 0}},
	}}
}

// Breakpoint raises the arrival rate until the system breaks: one
// ramping-arrival-rate scenario "breakpoint" climbing from 0 to Rate
// iterations per second (default 20000) over Duration (default 2h), with
// VUs/10 (at least 1) VUs preallocated and up to VUs (default 1000). It is
// meant to be stopped at the break: pair it with thresholds that have
// abortOnFail, such as http_req_failed rate<0.01 or p(95) latency. RampUp
// is not used.
func Breakpoint(p PresetParams) Scenarios {
	p, _ = p.withDefaults(1000, 2*time.Hour, 0)
	if p.Rate <= 0 {
		p.Rate = 20000
	}
	return Scenarios{"breakpoint": RampingArrivalRate{
		Stages:          []Stage{{p.Duration, p.Rate}},
		PreAllocatedVUs: part(p.VUs, 10),
		MaxVUs:          p.VUs,
	}}
}
