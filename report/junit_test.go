package report_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
)

// junitDoc is the part of JUnit XML that CI systems read.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Skipped  int `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func junit(t *testing.T, in report.Input) ([]byte, junitDoc) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, report.WriteJUnit(&buf, in))
	var doc junitDoc
	require.NoError(t, xml.Unmarshal(buf.Bytes(), &doc), "%s", buf.String())
	return buf.Bytes(), doc
}

func TestWriteJUnitGolden(t *testing.T) {
	t.Parallel()
	b, doc := junit(t, fixtureInput(t, false))
	golden(t, "report.junit.xml", b)

	names := []string{}
	for _, s := range doc.Suites {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"run", "thresholds", "checks", "findings"}, names)
	th := doc.Suites[1]
	assert.Equal(t, 3, th.Tests)
	assert.Equal(t, 1, th.Failures)
	assert.Equal(t, 1, th.Skipped)
	require.NotNil(t, th.Cases[0].Failure)
	assert.Contains(t, th.Cases[0].Failure.Message, "53.95")
	assert.Equal(t, "p(95)<40", th.Cases[0].Name)
	assert.Equal(t, "thresholds.http_req_duration", th.Cases[0].Classname)
	require.NotNil(t, th.Cases[2].Skipped)
	assert.Contains(t, th.Cases[2].Skipped.Message, "no data")

	ck := doc.Suites[2]
	assert.Equal(t, 3, ck.Tests)
	assert.Equal(t, 2, ck.Failures)
	assert.Equal(t, "checks.checkout.pay", ck.Cases[2].Classname)
	assert.Contains(t, ck.Cases[0].Failure.Message, "10 of 1000 failed")

	fs := doc.Suites[3]
	assert.Equal(t, 1, fs.Tests, "only high and critical findings are test cases")
	assert.Equal(t, 1, fs.Failures)

	assert.Equal(t, 1+3+3+1, doc.Tests)
	assert.Equal(t, 1+2+1, doc.Failures)
	assert.Equal(t, 1, doc.Skipped)
}

func TestWriteJUnitRunStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   loadtest.Status
		abort    *loadtest.Abort
		failures int
		errors   int
		contains string
	}{
		{name: "passed", status: loadtest.StatusPassed},
		{name: "thresholds failed", status: loadtest.StatusThresholdsFailed},
		{name: "aborted", status: loadtest.StatusAborted, abort: &loadtest.Abort{By: loadtest.AbortByScript, Reason: "bad data"}, errors: 1, contains: "aborted by script"},
		{name: "errored", status: loadtest.StatusErrored, errors: 1, contains: "errored"},
		{name: "marked failed", status: loadtest.StatusMarkedFailed, failures: 1, contains: "marked failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, doc := junit(t, report.Input{Result: loadtest.Result{Status: tt.status, Abort: tt.abort}})
			run := doc.Suites[0]
			assert.Equal(t, "run", run.Name)
			assert.Equal(t, tt.failures, run.Failures)
			assert.Equal(t, tt.errors, run.Errors)
			c := run.Cases[0]
			switch {
			case c.Error != nil:
				assert.Contains(t, c.Error.Message, tt.contains)
			case c.Failure != nil:
				assert.Contains(t, c.Failure.Message, tt.contains)
			default:
				assert.Empty(t, tt.contains)
			}
		})
	}
}

// TestWriteJUnitHostile: hostile names stay text, and the XML stays valid
// even with control characters in it.
func TestWriteJUnitHostile(t *testing.T) {
	t.Parallel()
	in := fixtureInput(t, true)
	in.Analysis.Findings[0].Kind = anomaly.KindErrorBurst
	b, doc := junit(t, in)
	assert.NotContains(t, string(b), "<injected")
	assert.NotContains(t, string(b), "<script>")
	var found bool
	for _, c := range doc.Suites[2].Cases {
		found = found || c.Name == hostile[2]
	}
	assert.True(t, found, "the check name survives the round trip")
	assert.Equal(t, 1, strings.Count(string(b), "<testsuites"))
}
