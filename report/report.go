package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/loadtest"
)

// SchemaVersion is the version of the JSON document [WriteJSON] writes. It
// changes only when a field is removed or changes meaning; new fields may
// appear within a version.
const SchemaVersion = "1"

// ErrSchemaVersion is returned by [ReadJSON] for a document of a schema
// version this package cannot read.
var ErrSchemaVersion = errors.New("unsupported report schema version")

// ErrNotReport is returned by [ReadJSON] for JSON that is neither a report
// document nor a loadtest.Result.
var ErrNotReport = errors.New("not a loadlens report or result")

// Input is everything a report shows. Only Result is required; the zero
// values of the others mean "not available".
type Input struct {
	// Result is the run.
	Result loadtest.Result
	// Analysis is anomaly.Analyze's report of the run.
	Analysis anomaly.Report
	// AI is a language model's analysis of the run, nil when none was
	// asked for. Reports label it as AI-generated.
	AI *anomaly.AIAnalysis
	// Comparison compares the run with another one (usually the history's
	// baseline, see [Baseline]); nil when there is none.
	Comparison *Comparison
	// History are earlier runs of the same test, oldest first, shown with
	// this one in the HTML report's history section; nil for none.
	History []HistoryRun
}

// Document is the JSON report: the run, its findings, the AI analysis and
// the comparison in one versioned envelope. Tools should check
// SchemaVersion.
type Document struct {
	SchemaVersion string          `json:"schema_version"`
	Result        loadtest.Result `json:"result"`
	// Findings are the analysis's findings, ranked (never null).
	Findings []anomaly.Finding `json:"findings"`
	// Severity is the highest severity among the findings.
	Severity anomaly.Severity `json:"severity"`
	// Summary is the analysis's plain-text summary.
	Summary string `json:"summary,omitempty"`
	// Steady and Schedule are the analysis's steady periods and where they
	// came from (see anomaly.Report).
	Steady   []anomaly.Window `json:"steady,omitempty"`
	Schedule string           `json:"schedule,omitempty"`
	// AI is the AI analysis, absent when none was asked for.
	AI *anomaly.AIAnalysis `json:"ai_analysis,omitempty"`
	// Comparison is absent when the run was not compared.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// NewDocument returns the JSON document of in, with the run's config
// redacted again (see [Redact]).
func NewDocument(in Input) Document {
	fs := in.Analysis.Findings
	if fs == nil {
		fs = []anomaly.Finding{}
	}
	return Document{
		SchemaVersion: SchemaVersion,
		Result:        Redact(in.Result),
		Findings:      fs,
		Severity:      in.Analysis.Severity,
		Summary:       in.Analysis.Summary,
		Steady:        in.Analysis.Steady,
		Schedule:      in.Analysis.Schedule,
		AI:            in.AI,
		Comparison:    in.Comparison,
	}
}

// Input returns the document as an Input.
func (d Document) Input() Input {
	return Input{
		Result: d.Result,
		Analysis: anomaly.Report{Findings: d.Findings, Severity: d.Severity, Summary: d.Summary,
			Steady: d.Steady, Schedule: d.Schedule},
		AI:         d.AI,
		Comparison: d.Comparison,
	}
}

// WriteJSON writes in as an indented [Document]. The output is stable: the
// same Input gives the same bytes (map keys are sorted).
func WriteJSON(w io.Writer, in Input) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(NewDocument(in)); err != nil {
		return fmt.Errorf("report json: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by [WriteJSON], or a bare
// loadtest.Result as `loadlens run --out result.json` writes it, into an
// Input. It fails with [ErrSchemaVersion] for a document of another
// schema version and with [ErrNotReport] for other JSON.
func ReadJSON(r io.Reader) (Input, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return Input{}, fmt.Errorf("read report: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil {
		return Input{}, fmt.Errorf("read report: %w", err)
	}
	if v, ok := probe["schema_version"]; ok {
		var version string
		if err := json.Unmarshal(v, &version); err != nil {
			return Input{}, fmt.Errorf("read report: schema_version: %w", err)
		}
		if version != SchemaVersion {
			return Input{}, fmt.Errorf("read report: schema_version %q (this build reads %q): %w", version, SchemaVersion, ErrSchemaVersion)
		}
		var d Document
		if err := decodeStrict(b, &d); err != nil {
			return Input{}, fmt.Errorf("read report: %w", err)
		}
		return d.Input(), nil
	}
	_, hasStart := probe["start"]
	_, hasMetrics := probe["metrics"]
	if !hasStart || !hasMetrics {
		return Input{}, fmt.Errorf("read report: no schema_version, start or metrics field: %w", ErrNotReport)
	}
	var res loadtest.Result
	if err := decodeStrict(b, &res); err != nil {
		return Input{}, fmt.Errorf("read report: result: %w", err)
	}
	return Input{Result: res}, nil
}

// decodeStrict decodes one JSON value and rejects trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// Redact returns r with its config's secrets redacted again, whatever
// produced it: environment variables and headers with secret-looking
// names, the auth token, and passwords in the target's base URL and
// endpoint paths. A Result from loadtest.Run is already redacted; this
// guards reports of results from elsewhere.
func Redact(r loadtest.Result) loadtest.Result {
	cfg := r.Config
	echo := loadtest.Plan{Env: cfg.Env, Target: cfg.Target}.Echo()
	cfg.Env = echo.Env
	if echo.Target != nil {
		t := *echo.Target
		t.BaseURL = redact.URL(t.BaseURL)
		for i := range t.Endpoints {
			t.Endpoints[i].Path = redact.URL(t.Endpoints[i].Path)
		}
		cfg.Target = &t
	}
	r.Config = cfg
	return r
}
