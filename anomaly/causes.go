package anomaly

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/loadlens/loadlens/loadtest"
)

// Causes: failures with an obvious cause say it — the script's exceptions
// with their message, requests that got no HTTP answer with k6's error
// code and what it means.

// errorCodeMeaning is what each k6 error code of a request without an
// HTTP answer means.
var errorCodeMeaning = map[int]string{
	1000: "a network error of no known kind",
	1010: "a network error outside TCP",
	1020: "the URL could not be used",
	1050: "the request timed out",
	1100: "a DNS error",
	1101: "DNS found no address for the host",
	1110: "the address is blocked by the test's options",
	1200: "a TCP error",
	1201: "broken pipe: the target closed the connection while the request was sent",
	1202: "an operating-system error on the connection",
	1210: "the connection could not be opened",
	1211: "opening the connection timed out",
	1212: "connection refused: nothing listened on the target's port",
	1213: "an operating-system error while connecting",
	1220: "connection reset by peer: the target dropped the connection without an answer",
	1300: "a TLS error",
	1310: "the certificate's issuer is unknown",
	1311: "the certificate does not match the host",
	1701: "the body could not be decompressed",
}

// httpStatusCode reports whether a k6 error code stands for an HTTP status
// (1000 + status), rather than a request without an answer.
func httpStatusCode(code int) bool { return code >= 1400 && code < 1600 }

// describeCode names a k6 error code with its meaning.
func describeCode(code int) string {
	if m, ok := errorCodeMeaning[code]; ok {
		return fmt.Sprintf("k6 error %d (%s)", code, m)
	}
	if httpStatusCode(code) {
		return fmt.Sprintf("HTTP %d", code-1000)
	}
	return fmt.Sprintf("k6 error %d", code)
}

// networkFailures returns, for the endpoints named (all when names is
// empty), the failed requests without an HTTP answer, all failed
// requests, and the most frequent k6 error code of the former.
func (a *analysis) networkFailures(names []string) (network, failed float64, code int) {
	byCode := map[int]int64{}
	for _, ep := range a.r.Endpoints {
		if len(names) > 0 && !slices.Contains(names, ep.Name) {
			continue
		}
		failed += float64(ep.Failed)
		for c, n := range ep.Errors {
			ci, err := strconv.Atoi(c)
			if err != nil || httpStatusCode(ci) {
				continue
			}
			byCode[ci] += n
			network += float64(n)
		}
	}
	var best int64
	for _, c := range slices.Sorted(maps.Keys(byCode)) {
		if byCode[c] > best {
			code, best = c, byCode[c]
		}
	}
	return network, failed, code
}

// scriptPath matches the absolute path of a script in an error message.
var scriptPath = regexp.MustCompile(`(?:[A-Za-z]:)?(?:/[^/:\s]+)+/([^/:\s]+\.(?:js|mjs|cjs|ts)):`)

// shortMessage trims an error message for a finding: the script's folder
// out, at most 160 characters.
func shortMessage(m string) string {
	m = scriptPath.ReplaceAllStringFunc(m, func(s string) string { return path.Base(strings.TrimSuffix(s, ":")) + ":" })
	if len(m) > 160 {
		m = m[:157] + "…"
	}
	return m
}

// iterationErrors reports iterations that ended with an error (a script
// exception): from when (a Bernoulli CUSUM of failed iterations against
// the run's baseline, or the first error when they fail from the start),
// how many, their share, and the most frequent message.
func (a *analysis) iterationErrors() {
	ie, it := a.series(loadtest.SeriesIterErrors), a.series(loadtest.SeriesIterations)
	var total float64
	for _, e := range a.r.IterationErrors {
		total += float64(e.Count)
	}
	if ie == nil || it == nil || total < minBurstFailures {
		return
	}
	n := make([]float64, a.n)
	k := make([]float64, a.n)
	var iters float64
	for i := range n {
		if v := it[i]; v > 0 {
			n[i], k[i] = v, min(v, max(0, ie[i]))
			iters += v
		}
	}
	if iters == 0 {
		return
	}
	bs := min(a.points(a.o.SettleTime), max(2, a.n/10))
	p0 := max(baselineRate(n, k, bs), 1e-6)
	var eps []span
	if p0 < 0.5 {
		eps = a.cusum(n, k, p0)
	}
	if len(eps) == 0 {
		// Failing all along (or too often for a baseline): from the first
		// error.
		first := slices.IndexFunc(k, func(v float64) bool { return v > 0 })
		if first < 0 {
			return
		}
		eps, p0 = []span{{a: first, b: a.n}}, 0
	}
	msg, others := "", len(a.r.IterationErrors)-1
	if len(a.r.IterationErrors) > 0 {
		msg = shortMessage(a.r.IterationErrors[0].Message)
	}
	for _, ep := range eps {
		if p0 > 0 {
			ep.a, ep.b = trimEpisode(n, k, ep.a, ep.b, p0)
		}
		var sn, sk float64
		for t := ep.a; t < ep.b; t++ {
			sn, sk = sn+n[t], sk+k[t]
		}
		// The episode runs on to the end when errors never stop.
		end := ep.b
		for end < a.n && k[end] > 0 && k[end] >= 0.5*sk/sn*n[end] {
			sn, sk = sn+n[end], sk+k[end]
			end++
		}
		if sk < minBurstFailures || sn == 0 {
			continue
		}
		share := sk / sn
		if p0 > 0 && binomialUpper(sk, sn, p0) > a.o.PValue/1000 {
			continue
		}
		sev := SeverityLow
		switch {
		case share >= 0.10:
			sev = SeverityHigh
		case share >= 0.01:
			sev = SeverityMedium
		}
		ev := map[string]float64{"errors": sk, "iterations": sn, "share": share, "errors_total": total, "messages": float64(others + 1)}
		if p0 > 0 {
			ev["baseline"] = p0
		}
		text := fmt.Sprintf("From %s to %s, %.0f of %.0f iterations (%s) ended with an error", fmtSec(a.at(ep.a)), fmtSec(a.at(end)), sk, sn, pct(share))
		if end >= a.n {
			text = fmt.Sprintf("From %s to the end of the run, %.0f of %.0f iterations (%s) ended with an error", fmtSec(a.at(ep.a)), sk, sn, pct(share))
		}
		if msg != "" {
			text += fmt.Sprintf(", most often %q", msg)
			if others > 0 {
				text += fmt.Sprintf(" (%d other messages)", others)
			}
		}
		text += ": the script threw, so those iterations did not finish their requests and checks."
		a.add(Finding{Kind: KindIterationErrors, Severity: sev, Target: BlameTest, Metric: loadtest.SeriesIterErrors,
			Method: "cusum+binomial", Evidence: ev, Message: text}, ep.a, end)
	}
}

// networkErrors reports episodes of requests that got no HTTP answer, per
// endpoint (a Bernoulli CUSUM of the endpoint's failures against its
// quietest stretch, confirmed by a binomial test), with k6's error code
// and what it means. Such failures are rare in a healthy run, so a small
// share counts: a client that retries a reset connection shows only the
// retries that failed again. Episodes on every endpoint at once are one
// finding about the target as a whole (it refused connections).
func (a *analysis) networkErrors() {
	type episode struct {
		name   string
		i, j   int
		sk, sn float64
		code   int
		p      float64
	}
	var eps []episode
	endpoints := 0
	for si := range a.r.Timeline.Series {
		s := &a.r.Timeline.Series[si]
		name, ok := s.Tags["name"]
		if s.Name != loadtest.SeriesFailedRate || !ok || len(s.Tags) != 1 {
			continue
		}
		reqs, fr := a.pad(a.r.Timeline.Find(loadtest.SeriesRequests, s.Tags)), a.pad(s)
		if reqs == nil {
			continue
		}
		endpoints++
		network, failed, code := a.networkFailures([]string{name})
		if network < minBurstFailures || network < 0.5*failed {
			continue
		}
		n, k := make([]float64, a.n), make([]float64, a.n)
		var total float64
		for t := range n {
			if v, f := reqs[t], fr[t]; v > 0 && !math.IsNaN(f) {
				n[t], k[t] = v, math.Round(v*f)
				total += v
			}
		}
		p0 := max(quietRate(n, k, max(2, a.n/12)), 0.1/max(total, 1))
		found := a.cusum(n, k, p0)
		for _, ep := range found {
			ep.a, ep.b = trimEpisode(n, k, ep.a, ep.b, p0)
			var sn, sk float64
			for t := ep.a; t < ep.b; t++ {
				sn, sk = sn+n[t], sk+k[t]
			}
			if p := binomialUpper(sk, sn, p0); sk >= minBurstFailures && p <= a.o.PValue/1000 {
				eps = append(eps, episode{name: name, i: ep.a, j: ep.b, sk: sk, sn: sn, code: code, p: p})
			}
		}
	}
	if len(eps) == 0 {
		return
	}
	// Every endpoint at about the same time: the target refused or dropped
	// everything.
	names := map[string]bool{}
	for _, e := range eps {
		names[e.name] = true
	}
	if endpoints > 1 && len(names) == endpoints {
		all := episode{i: a.n, code: eps[0].code}
		for _, e := range eps {
			all.i, all.j = min(all.i, e.i), max(all.j, e.j)
			all.sk, all.sn = all.sk+e.sk, all.sn+e.sn
			all.p = max(all.p, e.p)
		}
		_, _, all.code = a.networkFailures(nil)
		eps = []episode{all}
	}
	for _, e := range eps {
		var tags map[string]string
		where := " on every endpoint"
		if e.name != "" {
			tags, where = map[string]string{"name": e.name}, " on "+e.name
		}
		rate := e.sk / e.sn
		until := "until " + fmtSec(a.at(e.j))
		if e.j >= a.n {
			until = "to the end of the run"
		}
		sev := SeverityMedium
		if rate >= 0.10 {
			sev = SeverityHigh
		}
		a.claims = append(a.claims, claim{a: e.i, b: e.j, family: "network"})
		a.add(Finding{Kind: KindNetworkErrors, Severity: sev, Target: BlameTarget, Metric: loadtest.SeriesFailedRate, Tags: tags,
			Method:   "cusum+binomial",
			Evidence: map[string]float64{"failed": e.sk, "requests": e.sn, "observed": rate, "error_code": float64(e.code), "p_value": e.p},
			Message: fmt.Sprintf("From %s %s, %.0f of %.0f requests%s (%s) got no HTTP answer: %s.",
				fmtSec(a.at(e.i)), until, e.sk, e.sn, where, pct(rate), describeCode(e.code))}, e.i, e.j)
	}
}

// quietRate is the failure rate of the quietest third of a series' blocks
// of bs points: the baseline of failures that may last most of a run.
func quietRate(n, k []float64, bs int) float64 {
	type block struct{ n, k float64 }
	var blocks []block
	for i := 0; i < len(n); i += bs {
		var b block
		for j := i; j < min(i+bs, len(n)); j++ {
			b.n, b.k = b.n+n[j], b.k+k[j]
		}
		if b.n > 0 {
			blocks = append(blocks, b)
		}
	}
	slices.SortStableFunc(blocks, func(x, y block) int { return cmp.Compare(x.k/x.n, y.k/y.n) })
	var sn, sk float64
	for _, b := range blocks[:max(1, len(blocks)/3)] {
		sn, sk = sn+b.n, sk+b.k
	}
	if sn == 0 {
		return 0
	}
	return sk / sn
}

// networkDominated reports whether the failures of the endpoint named by
// tags (every endpoint when nil) mostly got no HTTP answer: networkErrors
// reports them.
func (a *analysis) networkDominated(tags map[string]string) bool {
	var names []string
	if tags != nil {
		names = []string{tags["name"]}
	}
	network, failed, _ := a.networkFailures(names)
	return failed > 0 && network >= 0.5*failed
}

// failureCause returns a sentence naming what the failed requests of the
// run mostly got: an HTTP status or a k6 error code with its meaning, and
// where; "" without failures.
func (a *analysis) failureCause() string {
	byCode := map[int]int64{}
	where := map[int]map[string]bool{}
	for _, ep := range a.r.Endpoints {
		for c, n := range ep.Errors {
			ci, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			byCode[ci] += n
			if where[ci] == nil {
				where[ci] = map[string]bool{}
			}
			where[ci][ep.Name] = true
		}
	}
	if len(byCode) == 0 {
		return ""
	}
	var code int
	var best, all int64
	for _, c := range slices.Sorted(maps.Keys(byCode)) {
		all += byCode[c]
		if byCode[c] > best {
			code, best = c, byCode[c]
		}
	}
	names := slices.Sorted(maps.Keys(where[code]))
	on := strings.Join(names, ", ")
	if len(names) > 3 {
		on = fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
	}
	return fmt.Sprintf("%s of the failures were %s on %s", pct(float64(best)/float64(all)), describeCode(code), on)
}
