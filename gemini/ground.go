package gemini

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/loadlens/loadlens/anomaly"
)

// NumberTolerance is the relative difference within which a number in the
// model's text matches an evidence value (after unit conversion); a number
// also matches when it is the value rounded to the digits it shows.
const NumberTolerance = 0.05

// Grounding note kinds (anomaly.GroundingNote.Kind).
const (
	NoteDroppedClaim   = "dropped_claim"
	NoteNumberMismatch = "number_mismatch"
)

// contextIDs are the items every claim may quote numbers from.
var contextIDs = []string{"run", "test"}

// Ground checks an answer against the evidence it was given and returns
// the corrected analysis: a root cause, insight or recommendation citing
// an ID that is not in ev is dropped, as is a root cause citing nothing or
// one that calls a threshold passed or failed against the engine's verdict
// (each with a dropped_claim note); a number in the text that matches no
// value of the cited items (nor of "run" and "test") within
// [NumberTolerance], after unit conversion, is flagged with a
// number_mismatch note and kept. When every root cause is dropped the
// analysis is inconclusive.
//
// Ground is pure; Analyze calls it on every answer, and it is exported so
// that an analysis made elsewhere can be checked the same way.
func Ground(a anomaly.AIAnalysis, ev Evidence) anomaly.AIAnalysis {
	g := newGrounder(ev)
	a = cloneAnalysis(a)
	a.Grounding = nil
	var causes []anomaly.Hypothesis
	for _, h := range a.RootCauses {
		claim := h.Title
		cited := append(slices.Clone(h.Supporting), h.Contradicting...)
		if len(h.Supporting) == 0 {
			a.Grounding = append(a.Grounding, note(NoteDroppedClaim, claim, "a root cause must cite supporting evidence"))
			continue
		}
		if ok, n := g.citesKnown(claim, cited); !ok {
			a.Grounding = append(a.Grounding, n)
			continue
		}
		text := h.Title + ". " + h.Explanation
		if n, bad := g.verdictContradiction(claim, text, cited); bad {
			a.Grounding = append(a.Grounding, n)
			continue
		}
		a.Grounding = append(a.Grounding, g.numbers(claim, text, cited)...)
		causes = append(causes, h)
	}
	dropped := len(a.RootCauses) - len(causes)
	a.RootCauses = causes
	var insights []anomaly.Insight
	for _, in := range a.Insights {
		if ok, n := g.citesKnown(in.Text, in.Evidence); !ok {
			a.Grounding = append(a.Grounding, n)
			continue
		}
		if n, bad := g.verdictContradiction(in.Text, in.Text, in.Evidence); bad {
			a.Grounding = append(a.Grounding, n)
			continue
		}
		a.Grounding = append(a.Grounding, g.numbers(in.Text, in.Text, in.Evidence)...)
		insights = append(insights, in)
	}
	a.Insights = insights
	var recs []anomaly.Recommendation
	for _, r := range a.Recommendations {
		if ok, n := g.citesKnown(r.Action, r.Evidence); !ok {
			a.Grounding = append(a.Grounding, n)
			continue
		}
		a.Grounding = append(a.Grounding, g.numbers(r.Action, r.Action+". "+r.Rationale, r.Evidence)...)
		recs = append(recs, r)
	}
	a.Recommendations = recs
	a.Grounding = append(a.Grounding, g.numbers("summary", a.Summary, nil)...)
	if len(a.RootCauses) == 0 && a.Conclusive {
		a.Conclusive = false
	}
	if dropped > 0 {
		a.Limitations = append(a.Limitations, fmt.Sprintf("The grounding check dropped %d of the model's root-cause hypotheses (see grounding notes).", dropped))
	}
	return a
}

func note(kind, claim, detail string) anomaly.GroundingNote {
	return anomaly.GroundingNote{Kind: kind, Claim: truncate(claim, 200), Detail: detail}
}

type grounder struct {
	ev    Evidence
	byID  map[string]*Item
	cands map[string][]candidate // per item ID, built lazily
}

// candidate is a number a claim may quote, with where it comes from.
type candidate struct {
	v    float64
	from string // item ID and value name, for notes
}

func newGrounder(ev Evidence) *grounder {
	g := &grounder{ev: ev, byID: map[string]*Item{}, cands: map[string][]candidate{}}
	for i := range ev.Items {
		g.byID[ev.Items[i].ID] = &ev.Items[i]
	}
	return g
}

// citesKnown reports whether every cited ID is in the pack; if not, it
// returns the note that drops the claim.
func (g *grounder) citesKnown(claim string, ids []string) (bool, anomaly.GroundingNote) {
	var unknown []string
	for _, id := range ids {
		if g.byID[id] == nil {
			unknown = append(unknown, strconv.Quote(truncate(id, 80)))
		}
	}
	if len(unknown) == 0 {
		return true, anomaly.GroundingNote{}
	}
	return false, note(NoteDroppedClaim, claim, "cites evidence that does not exist: "+strings.Join(unknown, ", "))
}

var (
	rePassWord = regexp.MustCompile(`(?i)\b(pass(es|ed)?|met|within|satisf(y|ies|ied)|green)\b`)
	reFailWord = regexp.MustCompile(`(?i)\b(fail(s|ed|ing)?|breach(es|ed)?|violat(es|ed|ion)|exceed(s|ed)?|crossed|red)\b`)
)

// verdictContradiction finds a sentence that names a cited threshold and
// calls it passed when the engine failed it, or the other way round.
func (g *grounder) verdictContradiction(claim, text string, ids []string) (anomaly.GroundingNote, bool) {
	for _, id := range ids {
		it := g.byID[id]
		if it == nil || it.Kind != ItemThreshold {
			continue
		}
		expr := strings.Join(strings.Fields(it.Attrs["expression"]), "")
		status := it.Attrs["status"]
		for _, sentence := range splitSentences(text) {
			flat := strings.Join(strings.Fields(sentence), "")
			if !strings.Contains(flat, expr) && !strings.Contains(sentence, id) {
				continue
			}
			pass, fail := rePassWord.MatchString(sentence), reFailWord.MatchString(sentence)
			if (status == "failed" && pass && !fail) || (status == "passed" && fail && !pass) {
				return note(NoteDroppedClaim, claim, fmt.Sprintf("contradicts the engine's verdict on %s: %s", id, status)), true
			}
		}
	}
	return anomaly.GroundingNote{}, false
}

func splitSentences(s string) []string {
	return regexp.MustCompile(`[.;!?]\s+|\n`).Split(s, -1)
}

// numbers flags each number of text that matches no candidate of the
// cited items or of the context items; with no cited items, every item is
// a candidate.
func (g *grounder) numbers(claim, text string, ids []string) []anomaly.GroundingNote {
	nums := extractNumbers(g.stripIDs(text))
	if len(nums) == 0 {
		return nil
	}
	var scope []string
	if len(ids) == 0 {
		for _, it := range g.ev.Items {
			scope = append(scope, it.ID)
		}
	} else {
		scope = append(slices.Clone(ids), contextIDs...)
	}
	var notes []anomaly.GroundingNote
	for _, n := range nums {
		if g.matches(n, scope) {
			continue
		}
		where := strings.Join(slices.DeleteFunc(slices.Clone(scope), func(id string) bool { return g.byID[id] == nil }), ", ")
		if len(ids) == 0 {
			where = "any evidence item"
		}
		notes = append(notes, note(NoteNumberMismatch, claim, fmt.Sprintf("%q matches no number of %s within %g %%",
			n.text, truncate(where, 300), NumberTolerance*100)))
	}
	return notes
}

// stripIDs removes evidence IDs and ID-like tokens from text so that
// their digits are not read as numbers.
func (g *grounder) stripIDs(text string) string {
	ids := make([]string, 0, len(g.ev.Items))
	for _, it := range g.ev.Items {
		ids = append(ids, it.ID)
	}
	// Longest first, so that an ID is removed before its prefix.
	slices.SortFunc(ids, func(a, b string) int { return len(b) - len(a) })
	for _, id := range ids {
		text = strings.ReplaceAll(text, id, " ")
	}
	return reFindingID.ReplaceAllString(text, " ")
}

var reFindingID = regexp.MustCompile(`\b[a-z_]+-[0-9a-f]{8}\b|\b(?:thr|ep|ts|gen|sc|chk|base|warn|tgt):\S+`)

func (g *grounder) matches(n number, scope []string) bool {
	for _, id := range scope {
		for _, c := range g.candidates(id) {
			if n.matches(c.v) {
				return true
			}
		}
	}
	return false
}

// candidates returns the numbers a claim citing item id may quote: its
// values, series points and the numbers in its text, attributes, value
// names and ID, each in the units it may be converted to, and the
// differences, ratios and changes between its paired values.
func (g *grounder) candidates(id string) []candidate {
	if c, ok := g.cands[id]; ok {
		return c
	}
	it := g.byID[id]
	if it == nil {
		return nil
	}
	var out []candidate
	add := func(v float64, from string) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, candidate{v, from})
		}
	}
	scaled := func(v float64, name, unit string) {
		add(v, name)
		add(v*100, name) // ratio → percent
		add(v/100, name) // percent → ratio
		add(1+v, name)   // change → factor
		add(1+v/100, name)
		switch {
		case strings.HasSuffix(name, "_ms") || unit == "ms":
			add(v/1000, name)
			add(v/60000, name)
		case strings.HasSuffix(name, "_s") || unit == "s":
			add(v*1000, name)
			add(v/60, name)
			add(v/3600, name)
		case strings.Contains(name, "bytes") || strings.HasPrefix(unit, "bytes"):
			for _, d := range []float64{1e3, 1 << 10, 1e6, 1 << 20, 1e9, 1 << 30} {
				add(v/d, name)
			}
		case strings.HasSuffix(name, "_per_min"):
			add(v/(1<<20), name)
			add(v/1e6, name)
		}
	}
	unit := it.Attrs["unit"]
	for name, v := range it.Values {
		scaled(v, name, unit)
	}
	for _, v := range it.Series {
		scaled(v, "series", unit)
	}
	for _, p := range [][2]string{{"before", "during"}, {"during", "after"}, {"before", "after"},
		{"baseline", "current"}, {"baseline", "observed"}, {"threshold", "observed"}, {"bound", "observed"},
		{"baseline_ms", "observed_ms"}, {"threshold_pct", "observed_pct"}} {
		a, okA := it.Values[p[0]]
		b, okB := it.Values[p[1]]
		if !okA || !okB {
			continue
		}
		from := p[0] + "/" + p[1]
		scaled(math.Abs(b-a), from, unit)
		if a != 0 {
			add(b/a, from)
			add((b/a-1)*100, from)
			add(math.Abs(b/a-1)*100, from)
		}
	}
	var texts []string
	texts = append(texts, it.ID, it.Text)
	for k, v := range it.Attrs {
		texts = append(texts, k, v)
	}
	for k := range it.Values {
		texts = append(texts, k)
	}
	for _, t := range texts {
		for _, n := range extractNumbers(t) {
			scaled(n.v, "text", n.unit)
		}
	}
	g.cands[id] = out
	return out
}

// number is a number found in the model's text.
type number struct {
	text string  // as written, with its unit
	v    float64 // in the unit written
	unit string  // normalised: "ms", "s", "%", "x", "bytes"… or ""
	// half is half a unit of the last digit shown: the rounding slack.
	half float64
}

// matches reports whether n is c within NumberTolerance or the rounding
// n's digits show.
func (n number) matches(c float64) bool {
	c = math.Abs(c)
	d := math.Abs(n.v - c)
	return d <= NumberTolerance*c || d <= n.half
}

var (
	reDate     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+Z?)?\b|\b\d{1,2}:\d{2}(?::\d{2})?\b`)
	rePctl     = regexp.MustCompile(`(?i)\bp\(?\d+(?:\.\d+)?\)?`)
	reCompound = regexp.MustCompile(`\b(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s\b|\b(\d+)h(\d+)m\b`)
	reThousand = regexp.MustCompile(`\b\d{1,3}(?:,\d{3})+\b`)
	reNumber   = regexp.MustCompile(`\d+(?:\.\d+)?(?:[eE][+-]?\d+)?`)
	reUnit     = regexp.MustCompile(`(?i)^\s?(milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|hours?|h|%|percent|x|×|req/s|rps|requests/s|mib|mb|gib|gb|kib|kb|bytes|vus?)`)
)

// extractNumbers returns the numbers of text worth checking: any number
// with a unit, a fraction part, or a value of 10 or more. Dates, clock
// times and percentile names (p95, p(99)) are skipped; compound durations
// ("2m3s") are read in seconds; thousands separators are understood.
func extractNumbers(text string) []number {
	text = reDate.ReplaceAllString(text, " ")
	text = rePctl.ReplaceAllString(text, " ")
	var out []number
	text = reCompound.ReplaceAllStringFunc(text, func(m string) string {
		sub := reCompound.FindStringSubmatch(m)
		atoi := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		var v float64
		if sub[4] != "" {
			v = atoi(sub[4])*3600 + atoi(sub[5])*60
		} else {
			if sub[1] == "" && sub[2] == "" {
				return m // a plain "12s": left to the general pattern
			}
			v = atoi(sub[1])*3600 + atoi(sub[2])*60 + atoi(sub[3])
		}
		out = append(out, number{text: m, v: v, unit: "s", half: 0.5})
		return " "
	})
	text = reThousand.ReplaceAllStringFunc(text, func(m string) string { return strings.ReplaceAll(m, ",", "") })
	for _, loc := range reNumber.FindAllStringIndex(text, -1) {
		if loc[0] > 0 {
			if r, _ := utf8.DecodeLastRuneInString(text[:loc[0]]); r == '.' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
				continue // part of a name or version: "http2", "v1.2"
			}
		}
		raw, rest := text[loc[0]:loc[1]], text[loc[1]:]
		var unitRaw string
		if u := reUnit.FindStringSubmatch(rest); u != nil {
			after, _ := utf8.DecodeRuneInString(rest[len(u[0]):])
			if !unicode.IsLetter(after) && !unicode.IsDigit(after) && after != '_' {
				unitRaw = strings.ToLower(u[1])
			}
		}
		if r, _ := utf8.DecodeRuneInString(rest); unitRaw == "" && (r == '_' || unicode.IsLetter(r)) {
			continue // part of a word: "5xx", "2nd"
		}
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(v, 0) {
			continue
		}
		unit := normUnit(unitRaw)
		frac := ""
		if i := strings.IndexByte(raw, '.'); i >= 0 && !strings.ContainsAny(raw, "eE") {
			frac = raw[i+1:]
		}
		if unit == "" && frac == "" && math.Abs(v) < 10 {
			continue
		}
		half := 0.5 * math.Pow(10, -float64(len(frac)))
		if strings.ContainsAny(raw, "eE") {
			half = 0
		}
		txt := raw
		if unitRaw != "" {
			txt += " " + unitRaw
		}
		out = append(out, number{text: txt, v: v, unit: unit, half: half})
	}
	return out
}

func normUnit(u string) string {
	switch u {
	case "":
		return ""
	case "millisecond", "milliseconds", "ms":
		return "ms"
	case "second", "seconds", "sec", "secs", "s":
		return "s"
	case "minute", "minutes", "min", "mins":
		return "min"
	case "hour", "hours", "h":
		return "h"
	case "%", "percent":
		return "%"
	case "x", "×":
		return "x"
	case "req/s", "rps", "requests/s":
		return "per_s"
	case "vu", "vus":
		return "vus"
	}
	return "bytes"
}
