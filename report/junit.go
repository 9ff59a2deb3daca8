package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/metrics"
)

// The JUnit XML written by WriteJUnit, in the common Jenkins/Surefire
// schema that GitLab, GitHub Actions reporters, Jenkins and Azure read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties *junitProps     `xml:"properties,omitempty"`
	Cases      []junitTestCase `xml:"testcase"`
	SystemOut  string          `xml:"system-out,omitempty"`
}

type junitProps struct {
	Props []junitProp `xml:"property"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the run as JUnit XML so that CI systems show a load
// test like any other test. It has up to four suites:
//
//   - "run": one test case for the run itself, an <error> when it
//     errored or was aborted (its numbers are incomplete), a <failure>
//     when a script marked it failed;
//   - "thresholds": one test case per threshold, named by the expression
//     and classed by the metric; a failed threshold is a <failure> whose
//     message has the observed value, one without data is <skipped> with
//     the reason;
//   - "checks": one test case per check, classed by its group path; a
//     check with failures is a <failure> with its fails and passes;
//   - "findings": the analysis's findings of severity high or critical,
//     each a <failure> (threshold and run_failed findings are left out:
//     the thresholds and run suites have them); lower findings are listed in the suite's
//     <system-out> only. CI shows the worst problems the analysis found,
//     while the build's status still comes from loadlens's exit code.
//
// Text from the target (check names, messages) is escaped by
// encoding/xml, which also replaces characters XML cannot carry (control
// characters, invalid UTF-8) by U+FFFD.
func WriteJUnit(w io.Writer, in Input) error {
	r := in.Result
	dur := seconds(r.Duration)
	ts := ""
	if !r.Start.IsZero() {
		ts = r.Start.UTC().Format(time.RFC3339)
	}
	name := r.Name
	if name == "" {
		name = "loadlens"
	}
	suites := []junitSuite{runSuite(r, dur, ts), thresholdSuite(r, ts), checkSuite(r.RootGroup, ts)}
	if s, ok := findingSuite(in.Analysis.Findings, ts); ok {
		suites = append(suites, s)
	}
	out := junitSuites{Name: (name), Time: dur, Suites: suites}
	for _, s := range suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("junit: %w", err)
	}
	return nil
}

func runSuite(r loadtest.Result, dur, ts string) junitSuite {
	tc := junitTestCase{Name: "run", Classname: "loadlens.run", Time: dur}
	switch r.Status {
	case loadtest.StatusErrored, loadtest.StatusAborted:
		msg := "run " + string(r.Status)
		if r.Abort != nil {
			msg = fmt.Sprintf("aborted by %s after %s: %s", r.Abort.By, r.Abort.After.Round(time.Millisecond), r.Abort.Reason)
		}
		tc.Error = &junitMessage{Message: (msg), Type: string(r.Status)}
	case loadtest.StatusMarkedFailed:
		tc.Failure = &junitMessage{Message: ("marked failed by the script: " + r.FailedBy), Type: string(r.Status)}
	}
	s := junitSuite{Name: "run", Tests: 1, Time: dur, Timestamp: ts, Cases: []junitTestCase{tc}}
	if tc.Error != nil {
		s.Errors = 1
	}
	if tc.Failure != nil {
		s.Failures = 1
	}
	props := []junitProp{{"status", string(r.Status)}}
	if r.TestType != "" {
		props = append(props, junitProp{"test_type", r.TestType})
	}
	if v, ok := r.Metric("http_reqs").Value("count"); ok {
		props = append(props, junitProp{"http_reqs", fmt.Sprintf("%g", v)})
	}
	if v, ok := r.Metric("http_req_failed").Value("rate"); ok {
		props = append(props, junitProp{"http_req_failed", fmt.Sprintf("%g", v)})
	}
	if v, ok := r.Metric("http_req_duration").Percentile(95); ok {
		props = append(props, junitProp{"http_req_duration_p95_ms", fmt.Sprintf("%g", v)})
	}
	s.Properties = &junitProps{props}
	return s
}

func thresholdSuite(r loadtest.Result, ts string) junitSuite {
	vs := r.Thresholds
	s := junitSuite{Name: "thresholds", Time: "0", Timestamp: ts, Cases: []junitTestCase{}}
	for _, v := range vs {
		tc := junitTestCase{Name: (v.Threshold.Source), Classname: ("thresholds." + v.Metric), Time: "0"}
		switch v.Status {
		case metrics.Failed:
			tc.Failure = &junitMessage{Type: "threshold",
				Message: fmt.Sprintf("%s: %s, threshold %s", v.Metric, r.Observed(v), v.Threshold.Source)}
			s.Failures++
		case metrics.NoData:
			tc.Skipped = &junitMessage{Message: (fmt.Sprintf("no data: no samples of %s to judge %s", v.Metric, v.Threshold.Source))}
			s.Skipped++
		default:
			tc.SystemOut = r.Observed(v)
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	return s
}

func checkSuite(root loadtest.Group, ts string) junitSuite {
	s := junitSuite{Name: "checks", Time: "0", Timestamp: ts, Cases: []junitTestCase{}}
	var walk func(g loadtest.Group)
	walk = func(g loadtest.Group) {
		class := "checks"
		if g.Path != "" {
			class = "checks" + strings.ReplaceAll(g.Path, "::", ".")
		}
		for _, c := range g.Checks {
			tc := junitTestCase{Name: (c.Name), Classname: (class), Time: "0"}
			total := c.Passes + c.Fails
			if c.Fails > 0 {
				tc.Failure = &junitMessage{Type: "check",
					Message: (fmt.Sprintf("%d of %d failed (%.2f %%), %d passed", c.Fails, total, 100*float64(c.Fails)/float64(total), c.Passes))}
				s.Failures++
			} else {
				tc.SystemOut = fmt.Sprintf("%d passed", c.Passes)
			}
			s.Tests++
			s.Cases = append(s.Cases, tc)
		}
		for _, sub := range g.Groups {
			walk(sub)
		}
	}
	walk(root)
	return s
}

// findingSuite returns the findings suite, if there are findings.
func findingSuite(fs []anomaly.Finding, ts string) (junitSuite, bool) {
	if len(fs) == 0 {
		return junitSuite{}, false
	}
	s := junitSuite{Name: "findings", Time: "0", Timestamp: ts, Cases: []junitTestCase{}}
	var minor strings.Builder
	for _, f := range fs {
		switch f.Kind {
		case anomaly.KindThresholdFailed, anomaly.KindThresholdNoData, anomaly.KindRunFailed:
			continue // the thresholds and run suites have them
		}
		if f.Severity < anomaly.SeverityHigh {
			fmt.Fprintf(&minor, "[%s] %s %s: %s\n", f.Severity, f.ID, f.Kind, f.Message)
			continue
		}
		tc := junitTestCase{Name: (string(f.Kind) + " " + f.Metric + tagString(f.Tags)), Classname: "findings." + string(f.Kind), Time: "0",
			Failure: &junitMessage{Type: f.Severity.String(), Message: (f.Message),
				Text: (fmt.Sprintf("id %s, %s severity, blames %s, window %s–%s, method %s", f.ID, f.Severity, f.Target,
					f.Start.Round(time.Second), f.End.Round(time.Second), f.Method))}}
		s.Tests++
		s.Failures++
		s.Cases = append(s.Cases, tc)
	}
	s.SystemOut = (minor.String())
	if s.Tests == 0 && s.SystemOut == "" {
		return junitSuite{}, false
	}
	return s, true
}

// tagString formats tags as " {k=v, …}", "" without tags.
func tagString(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	parts := make([]string, 0, len(tags))
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		parts = append(parts, k+"="+tags[k])
	}
	return " {" + strings.Join(parts, ", ") + "}"
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
