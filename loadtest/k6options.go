package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
	"github.com/loadlens/loadlens/internal/strictjson"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
)

// K6Options is k6's options object — a script's `export const options`, a
// --config file, the agent's "options" — as loadlens reads it: the
// execution shortcuts, scenarios, thresholds and engine options. Layers
// combine with [K6Options.Override] in k6's order of precedence, and
// [K6Options.Apply] turns the result into a plan's scenarios, thresholds
// and options.
type K6Options struct {
	VUs        *int64
	Duration   *time.Duration
	Iterations *int64
	Stages     []scenarios.Stage // nil: not given; empty: given empty
	Scenarios  scenarios.Scenarios
	Thresholds metrics.Thresholds
	// Options holds the engine options; only the keys in set were given.
	Options Options
	set     map[string]bool
	// Warnings lists options that were ignored.
	Warnings []string
}

// DecodeK6Options reads a k6 options object and reports every problem at
// once, each prefixed by "options.KEY". Options k6 has and loadlens does
// not implement, and unknown keys, are ignored with a warning, as k6
// ignores unknown keys.
func DecodeK6Options(b []byte) (K6Options, error) {
	members, err := strictjson.Members(b)
	if err != nil {
		if p, ok := err.(*strictjson.Problem); ok && p.Path == "" {
			p.Path = "options"
		}
		return K6Options{}, err
	}
	raw := map[string]strictjson.Member{} // the last of a repeated key, as encoding/json
	for _, m := range members {
		raw[m.Name] = m
	}
	o := K6Options{set: map[string]bool{}}
	var errs []error
	field := func(key string, dst any) {
		if err := strictjson.DecodeMember(b, raw[key], "options."+key, dst); err != nil {
			errs = append(errs, err)
		}
	}
	engine := map[string]json.RawMessage{}
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		if string(raw[key].Value) == "null" {
			continue
		}
		switch key {
		case "vus":
			field(key, &o.VUs)
		case "iterations":
			field(key, &o.Iterations)
		case "duration":
			var d duration.Duration
			field(key, &d)
			td := time.Duration(d)
			o.Duration = &td
		case "stages":
			o.Stages = []scenarios.Stage{}
			field(key, &o.Stages)
		case "scenarios":
			o.Scenarios = scenarios.Scenarios{}
			field(key, &o.Scenarios)
		case "thresholds":
			field(key, &o.Thresholds)
		default:
			if dst := engineOptionField(key); dst != nil {
				engine[key] = raw[key].Value
				o.set[key] = true
				field(key, dst)
				continue
			}
			o.Warnings = append(o.Warnings, fmt.Sprintf("option %q is not supported by loadlens and was ignored", key))
		}
	}
	if len(engine) > 0 {
		_ = json.Unmarshal(mustJSON(engine), &o.Options) // each key decoded above
	}
	if o.Scenarios != nil {
		if err := o.Scenarios.Validate(); err != nil {
			errs = append(errs, prefixErrors("options.", err))
		}
	}
	if o.VUs != nil && *o.VUs < 0 {
		errs = append(errs, fmt.Errorf("options.vus: must be >= 0, got %d", *o.VUs))
	}
	if o.Iterations != nil && *o.Iterations < 0 {
		errs = append(errs, fmt.Errorf("options.iterations: must be >= 0, got %d", *o.Iterations))
	}
	return o, errors.Join(errs...)
}

// engineOptionField returns a new value of the type the engine option
// key decodes into (its field of optionsJSON), or nil when key is none.
func engineOptionField(key string) any {
	t := reflect.TypeFor[optionsJSON]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name == key {
			return reflect.New(t.Field(i).Type).Interface()
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Override returns o with over's given options on top, as a higher layer
// of k6's configuration (script options < environment < CLI flags). When
// over gives any execution shortcut (vus, duration, iterations, stages),
// o's scenarios and o's other shortcuts give way, except o's vus unless
// over sets them too; over's scenarios replace o's.
func (o K6Options) Override(over K6Options) K6Options {
	out := o
	out.set = maps.Clone(o.set)
	if out.set == nil {
		out.set = map[string]bool{}
	}
	if over.Duration != nil || over.Iterations != nil || over.Stages != nil {
		out.Duration, out.Iterations, out.Stages, out.Scenarios = over.Duration, over.Iterations, over.Stages, nil
	}
	if over.VUs != nil {
		out.VUs = over.VUs
		if over.Scenarios == nil {
			out.Scenarios = nil
		}
	}
	if over.Scenarios != nil {
		out.Scenarios = over.Scenarios
	}
	if over.Thresholds != nil {
		out.Thresholds = maps.Clone(o.Thresholds)
		if out.Thresholds == nil {
			out.Thresholds = metrics.Thresholds{}
		}
		maps.Copy(out.Thresholds, over.Thresholds)
	}
	if len(over.set) > 0 {
		mine, _ := json.Marshal(o.Options)
		theirs, _ := json.Marshal(over.Options)
		var a, b map[string]json.RawMessage
		_ = json.Unmarshal(mine, &a)
		_ = json.Unmarshal(theirs, &b)
		if a == nil {
			a = map[string]json.RawMessage{}
		}
		for key := range over.set {
			if v, ok := b[key]; ok {
				a[key] = v
			} else {
				delete(a, key) // given as its zero value
			}
			out.set[key] = true
		}
		out.Options = Options{}
		_ = json.Unmarshal(mustJSON(a), &out.Options)
	}
	out.Warnings = append(slices.Clone(o.Warnings), over.Warnings...)
	return out
}

// Apply sets the plan's scenarios from the shortcuts or scenarios (k6's
// rules), and its thresholds and engine options. It returns k6's warnings.
func (o K6Options) Apply(p *Plan) ([]string, error) {
	scs, warnings, err := scenarios.Shortcuts{VUs: o.VUs, Duration: o.Duration, Iterations: o.Iterations,
		Stages: o.Stages, Scenarios: o.Scenarios}.Resolve()
	if err != nil {
		return nil, Invalid(err)
	}
	p.Scenarios = scs
	if o.Thresholds != nil {
		p.Thresholds = o.Thresholds
	}
	p.Options = o.Options
	if slices.ContainsFunc(o.Options.TLSAuth, func(a TLSAuth) bool { return len(a.Domains) > 0 }) {
		warnings = append(warnings, tlsAuthDomainsWarning)
	}
	return append(slices.Clone(o.Warnings), warnings...), nil
}

// tlsAuthDomainsWarning is k6 v2.2.0's warning for tlsAuth.domains.
const tlsAuthDomainsWarning = "tlsAuth.domains option could be removed in the next releases, it's recommended to leave it empty and let k6 automatically detect from the provided certificate. It follows the Go's NameToCertificate deprecation - https://pkg.go.dev/crypto/tls@go1.17#Config."

// HasExecution reports whether the options say how to run: a shortcut or
// scenarios.
func (o K6Options) HasExecution() bool {
	return o.VUs != nil || o.Duration != nil || o.Iterations != nil || o.Stages != nil || o.Scenarios != nil
}

// MarshalJSON writes the options as k6 would read them.
func (o K6Options) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if o.VUs != nil {
		m["vus"] = *o.VUs
	}
	if o.Duration != nil {
		m["duration"] = duration.Duration(*o.Duration)
	}
	if o.Iterations != nil {
		m["iterations"] = *o.Iterations
	}
	if o.Stages != nil {
		m["stages"] = o.Stages
	}
	if o.Scenarios != nil {
		m["scenarios"] = o.Scenarios
	}
	if o.Thresholds != nil {
		m["thresholds"] = o.Thresholds
	}
	var engine map[string]json.RawMessage
	_ = json.Unmarshal(mustJSON(o.Options), &engine)
	for k, v := range engine {
		m[k] = v
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(m)
	return bytes.TrimSpace(buf.Bytes()), err
}

// prefixErrors prefixes each of err's joined errors.
func prefixErrors(prefix string, err error) error {
	var out []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, prefixErrors(prefix, e))
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s%w", prefix, err)
}
