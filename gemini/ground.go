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
	NoteDroppedClaim         = "dropped_claim"
	NoteNumberMismatch       = "number_mismatch"
	NoteVerdictContradiction = "verdict_contradiction"
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
				return note(NoteVerdictContradiction, claim, fmt.Sprintf("contradicts the engine's verdict on %s: %s", id, status)), true
			}
		}
	}
	return anomaly.GroundingNote{}, false
}

var reSentence = regexp.MustCompile(`[.;!?]\s+|\n`)

func splitSentences(s string) []string { return reSentence.Split(s, -1) }

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
			if n.matches(c) {
				return true
			}
		}
	}
	return false
}

// dim is the dimension of a number, which decides what it may be compared
// with; values are kept in a canonical unit per dimension.
type dim uint8

const (
	dimNone   dim = iota // counts, loads, rates per second: as written
	dimTime              // milliseconds
	dimPct               // percent
	dimBytes             // bytes
	dimFactor            // a ratio of two values ("2.5x")
)

// candidate is a number a claim may quote: v in its dimension's canonical
// unit, raw as the evidence wrote it.
type candidate struct {
	v, raw float64
	d      dim
}

// valueDim returns the dimension of an evidence value from its name and
// its item's unit, and the factor to its canonical unit.
func valueDim(name, unit string) (dim, float64) {
	switch {
	case strings.HasSuffix(name, "_ms") || unit == "ms":
		return dimTime, 1
	case strings.HasSuffix(name, "_s") || name == "seconds" || unit == "s":
		return dimTime, 1000
	case strings.Contains(name, "bytes") || strings.HasPrefix(unit, "bytes"):
		return dimBytes, 1
	case strings.HasSuffix(name, "_pct") || unit == "pct":
		return dimPct, 1
	case (strings.Contains(name, "rate") && !strings.Contains(name, "per_s")) || strings.Contains(name, "ratio") ||
		name == "change" || strings.HasSuffix(name, "_change") || unit == "ratio":
		return dimPct, 100
	}
	return dimNone, 1
}

// candidates returns the numbers a claim citing item id may quote: its
// values, series points and the numbers in its text, attributes, value
// names and ID, and the differences, ratios and changes between its
// paired values.
func (g *grounder) candidates(id string) []candidate {
	if c, ok := g.cands[id]; ok {
		return c
	}
	it := g.byID[id]
	if it == nil {
		return nil
	}
	var out []candidate
	add := func(raw, v float64, d dim) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, candidate{v: math.Abs(v), raw: math.Abs(raw), d: d})
		}
	}
	value := func(v float64, name, unit string) {
		d, f := valueDim(name, unit)
		add(v, v*f, d)
		switch {
		case d == dimPct:
			add(v, 1+v*f/100, dimFactor) // a change as a factor
		case d == dimNone && math.Abs(v) <= 1:
			add(v, v*100, dimPct) // an unnamed share, as a percentage
		}
	}
	unit := it.Attrs["unit"]
	for name, v := range it.Values {
		value(v, name, unit)
	}
	for _, v := range it.Series {
		value(v, "series", unit)
	}
	for _, p := range [][2]string{{"before", "during"}, {"during", "after"}, {"before", "after"},
		{"baseline", "current"}, {"baseline", "observed"}, {"threshold", "observed"}, {"bound", "observed"},
		{"baseline_ms", "observed_ms"}, {"threshold_pct", "observed_pct"}} {
		a, okA := it.Values[p[0]]
		b, okB := it.Values[p[1]]
		if !okA || !okB {
			continue
		}
		value(b-a, p[1], unit)
		if a != 0 {
			add(b/a, b/a, dimFactor)
			add((b/a-1)*100, (b/a-1)*100, dimPct)
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
			d, fs := n.canonical()
			for _, f := range fs {
				add(n.v, n.v*f, d)
			}
		}
	}
	g.cands[id] = out
	return out
}

// number is a number found in the model's text.
type number struct {
	text string  // as written, with its unit
	v    float64 // in the unit written
	unit string  // normalised: "ms", "s", "%", "x", "mb"… or ""
	// half is half a unit of the last digit shown: the rounding slack.
	half float64
}

// canonical returns n's dimension and the factors that may take it to the
// dimension's canonical unit (two for MB, GB and KB, which may be decimal
// or binary).
func (n number) canonical() (dim, []float64) {
	switch n.unit {
	case "ms":
		return dimTime, []float64{1}
	case "s":
		return dimTime, []float64{1000}
	case "min":
		return dimTime, []float64{60e3}
	case "h":
		return dimTime, []float64{3600e3}
	case "%":
		return dimPct, []float64{1}
	case "x":
		return dimFactor, []float64{1}
	case "bytes":
		return dimBytes, []float64{1}
	case "kb":
		return dimBytes, []float64{1e3, 1 << 10}
	case "kib":
		return dimBytes, []float64{1 << 10}
	case "mb":
		return dimBytes, []float64{1e6, 1 << 20}
	case "mib":
		return dimBytes, []float64{1 << 20}
	case "gb":
		return dimBytes, []float64{1e9, 1 << 30}
	case "gib":
		return dimBytes, []float64{1 << 30}
	}
	return dimNone, []float64{1}
}

// matches reports whether n quotes c: in the same dimension (any, when n
// has no unit) within NumberTolerance or the rounding n's digits show.
func (n number) matches(c candidate) bool {
	near := func(x, y, half float64) bool {
		d := math.Abs(x - y)
		return d <= NumberTolerance*y || d <= half
	}
	d, fs := n.canonical()
	if d == dimNone {
		return near(n.v, c.raw, n.half) || near(n.v, c.v, n.half)
	}
	if c.d != d && (d != dimFactor || c.d != dimNone) {
		return false
	}
	for _, f := range fs {
		if near(n.v*f, c.v, n.half*f) {
			return true
		}
	}
	return false
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
	case "kb", "kib", "mb", "mib", "gb", "gib":
		return u
	}
	return "bytes"
}
