package gemini

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/loadlens/loadlens/anomaly"
)

// answer is the model's JSON answer, as the response schema asks.
type answer struct {
	Summary         string                   `json:"summary"`
	Conclusion      string                   `json:"conclusion"`
	RootCauses      []anomaly.Hypothesis     `json:"root_causes"`
	Insights        []anomaly.Insight        `json:"insights"`
	Recommendations []anomaly.Recommendation `json:"recommendations"`
	Risk            anomaly.Risk             `json:"risk"`
	Limitations     []string                 `json:"limitations"`
}

// errMalformed and errEmpty are the parse failures of an answer.
var (
	errMalformed = errors.New("malformed JSON answer")
	errEmpty     = errors.New("empty answer")
)

// parseAnswer decodes the model's text: one JSON object, optionally in a
// Markdown code fence. Enums are normalised: an unknown confidence becomes
// low, an unknown risk level is dropped, an unknown conclusion is
// inconclusive. Recommendations are ordered by priority.
func parseAnswer(text string) (answer, error) {
	s := strings.TrimSpace(text)
	if s == "" {
		return answer{}, errEmpty
	}
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```json")
		s = strings.TrimPrefix(s, "```")
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	var a answer
	if err := dec.Decode(&a); err != nil {
		return answer{}, errMalformed
	}
	if dec.More() { // trailing garbage after the object
		return answer{}, errMalformed
	}
	a.Summary = strings.TrimSpace(a.Summary)
	if a.Summary == "" && len(a.RootCauses) == 0 && len(a.Insights) == 0 && len(a.Recommendations) == 0 {
		return answer{}, errEmpty
	}
	a.Conclusion = strings.ToLower(strings.TrimSpace(a.Conclusion))
	if a.Conclusion != conclusionConclusive {
		a.Conclusion = conclusionInconclusive
	}
	for i := range a.RootCauses {
		h := &a.RootCauses[i]
		switch c := anomaly.Confidence(strings.ToLower(strings.TrimSpace(string(h.Confidence)))); c {
		case anomaly.ConfidenceLow, anomaly.ConfidenceMedium, anomaly.ConfidenceHigh:
			h.Confidence = c
		default:
			h.Confidence = anomaly.ConfidenceLow
		}
		h.Supporting = cleanIDs(h.Supporting)
		h.Contradicting = cleanIDs(h.Contradicting)
	}
	for i := range a.Insights {
		a.Insights[i].Evidence = cleanIDs(a.Insights[i].Evidence)
	}
	for i := range a.Recommendations {
		a.Recommendations[i].Evidence = cleanIDs(a.Recommendations[i].Evidence)
	}
	slices.SortStableFunc(a.Recommendations, func(x, y anomaly.Recommendation) int {
		return cmp.Compare(prio(x.Priority), prio(y.Priority))
	})
	switch l := strings.ToLower(strings.TrimSpace(a.Risk.Level)); l {
	case "low", "medium", "high", "critical":
		a.Risk.Level = l
	default:
		a.Risk.Level = ""
	}
	return a, nil
}

// prio orders priorities: 1, 2, … first, missing or invalid ones last.
func prio(p int) int {
	if p < 1 {
		return int(^uint(0) >> 1)
	}
	return p
}

// cleanIDs trims cited IDs and drops empty and repeated ones.
func cleanIDs(ids []string) []string {
	var out []string
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
