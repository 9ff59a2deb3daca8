package anomaly

// AIAnalysis is a language model's reading of a run, grounded in the run's
// findings and numbers. Package gemini produces it; reports show it labelled
// as AI-generated; the agent stores it beside the Result. It is plain data:
// this package never calls a model.
//
// Threshold pass/fail is never taken from it: verdicts come from the engine.
type AIAnalysis struct {
	// Available is false when there is no analysis; Unavailable says why
	// ("no API key", "timeout", "quota exhausted", "blocked prompt"…).
	Available   bool   `json:"available"`
	Unavailable string `json:"unavailable_reason,omitempty"`

	Model         string `json:"model,omitempty"`
	PromptVersion string `json:"prompt_version,omitempty"`
	InputTokens   int    `json:"input_tokens,omitempty"`
	OutputTokens  int    `json:"output_tokens,omitempty"`
	// Cached is set when the analysis came from the cache, not a new call.
	Cached bool `json:"cached,omitempty"`

	Summary string `json:"summary,omitempty"`
	// Conclusive is false when the model says the evidence does not settle
	// the cause.
	Conclusive      bool             `json:"conclusive"`
	RootCauses      []Hypothesis     `json:"root_causes,omitempty"`
	Insights        []Insight        `json:"insights,omitempty"`
	Recommendations []Recommendation `json:"recommendations,omitempty"`
	Risk            Risk             `json:"risk"`
	Limitations     []string         `json:"limitations,omitempty"`
	// Grounding lists what the grounding check did to the model's answer:
	// claims dropped for citing evidence that does not exist, numbers that
	// do not match the evidence.
	Grounding []GroundingNote `json:"grounding,omitempty"`
}

// Confidence is how sure a hypothesis is.
type Confidence string

// Confidence levels.
const (
	ConfidenceLow    Confidence = "low"
	ConfidenceMedium Confidence = "medium"
	ConfidenceHigh   Confidence = "high"
)

// Hypothesis is one candidate root cause with the evidence for and
// against it, cited by evidence ID (Finding.ID or another ID of the
// evidence pack).
type Hypothesis struct {
	Title         string     `json:"title"`
	Explanation   string     `json:"explanation"`
	Supporting    []string   `json:"supporting_evidence"`
	Contradicting []string   `json:"contradicting_evidence,omitempty"`
	Confidence    Confidence `json:"confidence"`
}

// Insight is one observation about the run's performance.
type Insight struct {
	Text     string   `json:"text"`
	Evidence []string `json:"evidence,omitempty"`
}

// Recommendation is one action, Priority 1 first.
type Recommendation struct {
	Priority  int      `json:"priority"`
	Action    string   `json:"action"`
	Rationale string   `json:"rationale,omitempty"`
	Evidence  []string `json:"evidence,omitempty"`
}

// Risk is the model's risk assessment of releasing what was tested.
type Risk struct {
	Level  string `json:"level,omitempty"` // low, medium, high, critical
	Reason string `json:"reason,omitempty"`
}

// GroundingNote records one correction of the grounding check.
type GroundingNote struct {
	// Kind is "dropped_claim" (it cited evidence that does not exist),
	// "verdict_contradiction" (it was dropped for contradicting a threshold
	// verdict of the engine) or "number_mismatch" (a number differs from the
	// evidence beyond tolerance).
	Kind   string `json:"kind"`
	Claim  string `json:"claim"`
	Detail string `json:"detail"`
}
