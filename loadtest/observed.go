package loadtest

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// CodeCount is how many requests ended with one k6 error code.
type CodeCount struct {
	Code  int    `json:"code"`  // k6's error_code: 1212, 1503, …
	Text  string `json:"text"`  // what it means: "connection refused"
	Count int64  `json:"count"` // requests
}

// String is "1212 connection refused".
func (c CodeCount) String() string {
	if c.Text == "" {
		return strconv.Itoa(c.Code)
	}
	return strconv.Itoa(c.Code) + " " + c.Text
}

// ErrorCodes counts the run's requests by k6 error code, most frequent
// first: the causes of failed requests, network errors (status 0) and
// HTTP statuses >= 400 (1000 + status) alike. It reads Endpoints, so it
// misses the requests of endpoints past MaxEndpoints.
func (r Result) ErrorCodes() []CodeCount {
	counts := map[int]int64{}
	for _, ep := range r.Endpoints {
		for code, n := range ep.Errors {
			c, err := strconv.Atoi(code)
			if err != nil {
				continue
			}
			counts[c] += n
		}
	}
	out := make([]CodeCount, 0, len(counts))
	for code, n := range counts {
		out = append(out, CodeCount{Code: code, Text: k6http.CodeText(code), Count: n})
	}
	slices.SortFunc(out, func(a, b CodeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	return out
}

// Observed says what a threshold saw, with its unit and what lies behind
// it: "p(95) = 59.48ms", "count = 12", "rate = 3.2/s",
// "rate = 100.00% (10 of 10)", and for http_req_failed the error codes:
// "rate = 100.00% (10 of 10 requests failed: 1212 connection refused ×10)".
// A threshold without data says "no data".
func (r Result) Observed(v metrics.Verdict) string {
	if v.Status == metrics.NoData {
		return "no data"
	}
	m := r.Metrics[v.Metric]
	f := summaryFormatter{res: &r}
	s := v.Threshold.Aggregation.String() + " = " + f.aggValue(m, v.Threshold.Aggregation, v.Observed)
	if m.Type != metrics.Rate || v.Threshold.Aggregation.Name != "rate" {
		return s
	}
	passes, total := m.Values["passes"], m.Values["passes"]+m.Values["fails"]
	parent, _, _ := splitKey(v.Metric)
	if parent != metrics.HTTPReqFailed {
		return fmt.Sprintf("%s (%s of %s)", s, formatPlain(passes), formatPlain(total))
	}
	s = fmt.Sprintf("%s (%s of %s requests failed", s, formatPlain(passes), formatPlain(total))
	var causes []string
	for _, c := range r.ErrorCodes() {
		if len(causes) == 3 {
			causes = append(causes, "…")
			break
		}
		causes = append(causes, fmt.Sprintf("%s ×%d", c, c.Count))
	}
	if v.Metric == metrics.HTTPReqFailed && passes > 0 && len(causes) > 0 { // a sub-metric's causes are not known
		s += ": " + strings.Join(causes, ", ")
	}
	return s + ")"
}
