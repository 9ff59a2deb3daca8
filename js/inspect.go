package js

import (
	"encoding/json"
)

// inspectKeys are the options `k6 inspect` prints, in its order; dns has
// its own.
var inspectKeys = []string{"paused", "vus", "duration", "iterations", "stages", "scenarios",
	"executionSegment", "executionSegmentSequence", "noSetup", "setupTimeout", "noTeardown",
	"teardownTimeout", "handleSummaryTimeout", "rps", "dns", "maxRedirects", "userAgent", "batch",
	"batchPerHost", "httpDebug", "insecureSkipTLSVerify", "tlsCipherSuites", "tlsVersion", "tlsAuth",
	"throw", "thresholds", "blacklistIPs", "blockHostnames", "hosts", "noConnectionReuse",
	"noVUConnectionReuse", "minIterationDuration", "ext", "summaryTrendStats", "summaryTimeUnit",
	"systemTags", "tags", "metricSamplesBufferSize", "noCookiesReset", "discardResponseBodies", "features"}

// Inspect returns the script's options as `k6 inspect` prints them: every
// option k6 knows, in k6's order, null where the script sets none,
// indented by two spaces.
func (p *Program) Inspect() ([]byte, error) {
	var set map[string]json.RawMessage
	if len(p.rawOpts) > 0 {
		if err := json.Unmarshal(p.rawOpts, &set); err != nil {
			return nil, err
		}
	}
	var b []byte
	b = append(b, '{')
	for i, k := range inspectKeys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(append(b, kb...), ':')
		v, ok := set[k]
		switch {
		case k == "dns":
			var dns map[string]json.RawMessage
			_ = json.Unmarshal(v, &dns)
			b = append(b, '{')
			for j, dk := range []string{"ttl", "select", "policy"} {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `"`+dk+`":`...)
				b = append(b, orNull(dns[dk])...)
			}
			b = append(b, '}')
		case ok:
			b = append(b, orNull(v)...)
		default:
			b = append(b, "null"...)
		}
	}
	b = append(b, '}')
	return json.MarshalIndent(json.RawMessage(b), "", "  ")
}

func orNull(v json.RawMessage) []byte {
	if len(v) == 0 {
		return []byte("null")
	}
	return v
}
