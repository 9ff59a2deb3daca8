// Package duration parses and formats durations the way k6 options spell
// them: Go duration strings with an extra "d" unit ("1m30s", "500ms", "2d"),
// and plain numbers, which mean milliseconds.
package duration

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Parse parses a k6 duration string. A string that is a plain number means
// milliseconds. Negative durations parse; callers validate ranges.
func Parse(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if ms, err := strconv.ParseFloat(s, 64); err == nil {
		return fromMillis(ms)
	}
	// Go's parser has no days; k6 adds them. Split off a leading "<n>d".
	var days time.Duration
	rest := s
	sign := time.Duration(1)
	if r, ok := strings.CutPrefix(rest, "-"); ok {
		sign, rest = -1, r
	}
	if i := strings.IndexByte(rest, 'd'); i > 0 {
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, rest[i+1:]
		if rest == "" {
			return sign * days, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 || days > math.MaxInt64-d {
		return 0, fmt.Errorf("invalid duration %q: want e.g. \"30s\", \"1m30s\", \"500ms\", \"1d2h\" or milliseconds", s)
	}
	return sign * (days + d), nil
}

func fromMillis(ms float64) (time.Duration, error) {
	ns := ms * float64(time.Millisecond)
	if math.IsNaN(ns) || math.IsInf(ns, 0) || math.Abs(ns) >= math.MaxInt64 {
		return 0, fmt.Errorf("duration %v ms is out of range", ms)
	}
	return time.Duration(ns), nil
}

// Format writes d as k6 shows durations: Go's form without the zero tails
// ("1m30s", not "1m30.000s"; "10m0s" becomes "10m").
func Format(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Duration is a time.Duration that reads k6 JSON (a duration string or a
// number of milliseconds) and writes a duration string.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(Format(time.Duration(d))) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		p, err := fromMillis(v)
		if err != nil {
			return err
		}
		*d = Duration(p)
		return nil
	case string:
		p, err := Parse(v)
		if err != nil {
			return err
		}
		*d = Duration(p)
		return nil
	}
	return fmt.Errorf("invalid duration %s: want a string such as \"30s\" or a number of milliseconds", b)
}
