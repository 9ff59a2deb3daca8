package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/loadlens/loadlens/loadtest"
)

// envOption is a k6 option read from a K6_* environment variable.
type envOption struct {
	env, option string
	kind        envKind
}

type envKind int

const (
	envString envKind = iota // as written; durations are k6 strings
	envInt
	envBool
	envList   // comma-separated
	envTags   // k=v,k=v
	envStages // DURATION:TARGET,…, as -s
)

// envOptions are k6's options the K6_* environment sets, as k6 names them.
var envOptions = []envOption{
	{"K6_VUS", "vus", envInt},
	{"K6_DURATION", "duration", envString},
	{"K6_ITERATIONS", "iterations", envInt},
	{"K6_STAGES", "stages", envStages},
	{"K6_TAGS", "tags", envTags},
	{"K6_SYSTEM_TAGS", "systemTags", envList},
	{"K6_SUMMARY_TREND_STATS", "summaryTrendStats", envList},
	{"K6_DISCARD_RESPONSE_BODIES", "discardResponseBodies", envBool},
	{"K6_NO_CONNECTION_REUSE", "noConnectionReuse", envBool},
	{"K6_NO_VU_CONNECTION_REUSE", "noVUConnectionReuse", envBool},
	{"K6_NO_COOKIES_RESET", "noCookiesReset", envBool},
	{"K6_USER_AGENT", "userAgent", envString},
	{"K6_INSECURE_SKIP_TLS_VERIFY", "insecureSkipTLSVerify", envBool},
	{"K6_MAX_REDIRECTS", "maxRedirects", envInt},
	{"K6_SETUP_TIMEOUT", "setupTimeout", envString},
	{"K6_TEARDOWN_TIMEOUT", "teardownTimeout", envString},
	{"K6_MIN_ITERATION_DURATION", "minIterationDuration", envString},
	{"K6_EXECUTION_SEGMENT", "executionSegment", envString},
	{"K6_EXECUTION_SEGMENT_SEQUENCE", "executionSegmentSequence", envString},
	{"K6_NO_THRESHOLDS", "noThresholds", envBool},
	{"K6_NO_SETUP", "noSetup", envBool},
	{"K6_NO_TEARDOWN", "noTeardown", envBool},
	{"K6_BLACKLIST_IPS", "blacklistIPs", envList},
}

// envLayer reads the K6_* environment as a k6 options layer: above the
// script's and the test file's options, below the command line's, as in
// k6. It reports every bad variable at once, by name.
func envLayer(getenv func(string) string) (loadtest.K6Options, error) {
	m := map[string]any{}
	var errs []string
	for _, o := range envOptions {
		v := strings.TrimSpace(getenv(o.env))
		if v == "" {
			continue
		}
		val, problems := o.value(v)
		if len(problems) == 0 {
			// Each variable alone first, so that a problem names it.
			_, err := optionsLayer(map[string]any{o.option: val}, nil)
			for _, p := range loadtest.ProblemsOf(err) {
				problems = append(problems, fmt.Sprintf("%s=%q: %s", o.env, v, p))
			}
		}
		if len(problems) > 0 {
			errs = append(errs, problems...)
			continue
		}
		m[o.option] = val
	}
	return optionsLayer(m, errs)
}

// value converts a variable's text to the option's JSON value.
func (o envOption) value(v string) (any, []string) {
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	switch o.kind {
	case envInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, []string{fmt.Sprintf("%s=%q: want an integer", o.env, v)}
		}
		return n, nil
	case envBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, []string{fmt.Sprintf("%s=%q: want true or false", o.env, v)}
		}
		return b, nil
	case envList:
		return items, nil
	case envTags:
		tags, err := keyValues(o.env, items)
		if err != nil {
			return nil, []string{err.Error()}
		}
		return tags, nil
	case envStages:
		return parseStages(o.env+": stage", items)
	}
	return v, nil
}
