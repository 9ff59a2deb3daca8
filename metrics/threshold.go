package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/duration"
)

// Operator compares an aggregated value with a threshold's bound.
type Operator string

// The operators k6 accepts, in the order its parser tries them.
const (
	LessEqual    Operator = "<="
	Less         Operator = "<"
	GreaterEqual Operator = ">="
	Greater      Operator = ">"
	StrictEqual  Operator = "==="
	Equal        Operator = "=="
	NotEqual     Operator = "!="
)

var operatorsInParseOrder = []Operator{LessEqual, Less, GreaterEqual, Greater, StrictEqual, Equal, NotEqual}

// Holds reports whether "observed op bound" is true.
func (o Operator) Holds(observed, bound float64) bool {
	switch o {
	case LessEqual:
		return observed <= bound
	case Less:
		return observed < bound
	case GreaterEqual:
		return observed >= bound
	case Greater:
		return observed > bound
	case StrictEqual, Equal:
		return observed == bound
	case NotEqual:
		return observed != bound
	}
	return false
}

// Threshold is one k6 threshold expression on a metric, such as "p(95)<500".
type Threshold struct {
	Source      string // the expression as written
	Aggregation Aggregation
	Operator    Operator
	Bound       float64
	// AbortOnFail stops the test the first time the threshold fails during a
	// run, once the run is older than DelayAbortEval.
	AbortOnFail    bool
	DelayAbortEval time.Duration
}

// ThresholdSyntaxError reports an expression that does not parse. Offset is
// the byte offset in Expr where the problem was found.
type ThresholdSyntaxError struct {
	Expr   string
	Offset int
	Reason string
}

func (e *ThresholdSyntaxError) Error() string {
	return fmt.Sprintf("threshold %q: %s (at offset %d)", e.Expr, e.Reason, e.Offset)
}

// ParseThreshold parses an expression "<aggregation> <operator> <number>" as
// k6 does: operators are tried in the order <=, <, >=, >, ===, ==, != and the
// first one with a non-empty right side is used; spaces are trimmed.
func ParseThreshold(expr string) (Threshold, error) {
	for _, op := range operatorsInParseOrder {
		i := strings.Index(expr, string(op))
		if i < 0 {
			continue
		}
		left, right := expr[:i], expr[i+len(op):]
		if strings.TrimSpace(right) == "" {
			continue
		}
		agg, err := ParseAggregation(left)
		if err != nil {
			return Threshold{}, &ThresholdSyntaxError{expr, 0, err.Error()}
		}
		bound, err := strconv.ParseFloat(strings.TrimSpace(right), 64)
		if err != nil || math.IsNaN(bound) {
			return Threshold{}, &ThresholdSyntaxError{expr, i + len(op), fmt.Sprintf("%q after %q is not a number", strings.TrimSpace(right), op)}
		}
		return Threshold{Source: expr, Aggregation: agg, Operator: op, Bound: bound}, nil
	}
	return Threshold{}, &ThresholdSyntaxError{expr, 0, "no operator followed by a number; want e.g. p(95)<500 (operators <, <=, >, >=, ==, ===, !=)"}
}

// String formats the expression canonically, e.g. "p(95)<500".
func (t Threshold) String() string {
	return t.Aggregation.String() + string(t.Operator) + strconv.FormatFloat(t.Bound, 'g', -1, 64)
}

// thresholdObject is k6's object form of a threshold.
type thresholdObject struct {
	Threshold      string             `json:"threshold"`
	AbortOnFail    bool               `json:"abortOnFail,omitempty"`
	DelayAbortEval *duration.Duration `json:"delayAbortEval,omitempty"`
}

// MarshalJSON writes the expression as a string, or as k6's object form
// {threshold, abortOnFail, delayAbortEval} when it aborts. It leaves '<',
// '>' and '&' as they are, so that the caller's encoder decides: k6's
// `--out json` writes "p(95)<500", json.Marshal writes "p(95)\u003c500".
func (t Threshold) MarshalJSON() ([]byte, error) {
	var v any = t.Source
	if t.AbortOnFail || t.DelayAbortEval != 0 {
		obj := thresholdObject{Threshold: t.Source, AbortOnFail: t.AbortOnFail}
		if t.DelayAbortEval != 0 {
			d := duration.Duration(t.DelayAbortEval)
			obj.DelayAbortEval = &d
		}
		v = obj
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads either form written by MarshalJSON.
func (t *Threshold) UnmarshalJSON(b []byte) error {
	var expr string
	if err := json.Unmarshal(b, &expr); err == nil {
		p, err := ParseThreshold(expr)
		if err != nil {
			return err
		}
		*t = p
		return nil
	}
	var obj thresholdObject
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&obj); err != nil {
		return fmt.Errorf("threshold %s: want a string or {\"threshold\", \"abortOnFail\", \"delayAbortEval\"}: %w", b, err)
	}
	p, err := ParseThreshold(obj.Threshold)
	if err != nil {
		return err
	}
	p.AbortOnFail = obj.AbortOnFail
	if obj.DelayAbortEval != nil {
		if *obj.DelayAbortEval < 0 {
			return fmt.Errorf("threshold %q: delayAbortEval must be >= 0", obj.Threshold)
		}
		p.DelayAbortEval = time.Duration(*obj.DelayAbortEval)
	}
	*t = p
	return nil
}

// Thresholds maps a metric name, with an optional sub-metric selector, to its
// threshold expressions: k6's `options.thresholds`.
type Thresholds map[string][]Threshold

// UnmarshalJSON reads k6's thresholds object and reports every bad
// expression at once, each prefixed by its path.
func (ts *Thresholds) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(Thresholds, len(raw))
	var errs []error
	for _, key := range sortedKeys(raw) {
		var list []json.RawMessage
		if err := json.Unmarshal(raw[key], &list); err != nil {
			errs = append(errs, fmt.Errorf("thresholds[%q]: want a list of expressions", key))
			continue
		}
		for i, item := range list {
			var th Threshold
			if err := json.Unmarshal(item, &th); err != nil {
				errs = append(errs, fmt.Errorf("thresholds[%q][%d]: %w", key, i, err))
				continue
			}
			out[key] = append(out[key], th)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	*ts = out
	return nil
}

// ParseThresholds parses expressions given as strings, reporting every bad
// one at once.
func ParseThresholds(exprs map[string][]string) (Thresholds, error) {
	out := make(Thresholds, len(exprs))
	var errs []error
	for _, key := range sortedKeys(exprs) {
		for i, e := range exprs[key] {
			th, err := ParseThreshold(e)
			if err != nil {
				errs = append(errs, fmt.Errorf("thresholds[%q][%d]: %w", key, i, err))
				continue
			}
			out[key] = append(out[key], th)
		}
	}
	return out, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
