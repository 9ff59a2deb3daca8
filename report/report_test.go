package report_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/report"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), string(got), "differs from %s (go test -update rewrites it; review the diff)", path)
}

func TestWriteJSONGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, report.WriteJSON(&buf, fixtureInput(t, false)))
	golden(t, "report.json", buf.Bytes())

	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	for _, k := range []string{"schema_version", "result", "findings", "severity", "ai_analysis", "comparison"} {
		assert.Contains(t, doc, k)
	}
	assert.JSONEq(t, `"1"`, string(doc["schema_version"]))
}

func TestWriteJSONStable(t *testing.T) {
	t.Parallel()
	var a, b bytes.Buffer
	require.NoError(t, report.WriteJSON(&a, fixtureInput(t, true)))
	require.NoError(t, report.WriteJSON(&b, fixtureInput(t, true)))
	assert.Equal(t, a.String(), b.String())
}

func TestWriteJSONMinimal(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	require.NoError(t, report.WriteJSON(&buf, report.Input{Result: loadtest.Result{Status: loadtest.StatusPassed}}))
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(buf.Bytes(), &doc))
	assert.JSONEq(t, `[]`, string(doc["findings"]), "findings is a list, never null")
	assert.NotContains(t, doc, "ai_analysis")
	assert.NotContains(t, doc, "comparison")
}

func TestReadJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, evil := range []bool{false, true} {
		in := fixtureInput(t, evil)
		var first bytes.Buffer
		require.NoError(t, report.WriteJSON(&first, in))
		back, err := report.ReadJSON(bytes.NewReader(first.Bytes()))
		require.NoError(t, err)
		var second bytes.Buffer
		require.NoError(t, report.WriteJSON(&second, back))
		assert.Equal(t, first.String(), second.String(), "evil=%v", evil)
		assert.Equal(t, in.Analysis.Findings[0].ID, back.Analysis.Findings[0].ID)
		require.NotNil(t, back.AI)
		assert.Equal(t, in.AI.Summary, back.AI.Summary)
	}
}

func TestReadJSON(t *testing.T) {
	t.Parallel()
	res := fixture(t, "bare", 10, 1, false)
	bare, err := json.Marshal(res)
	require.NoError(t, err)
	tests := []struct {
		name    string
		in      string
		wantErr error
		check   func(t *testing.T, in report.Input)
	}{
		{name: "bare result", in: string(bare), check: func(t *testing.T, in report.Input) {
			assert.Equal(t, "bare", in.Result.Name)
			assert.Len(t, in.Result.Thresholds, 3)
			assert.Nil(t, in.AI)
		}},
		{name: "other schema version", in: `{"schema_version":"2","result":{}}`, wantErr: report.ErrSchemaVersion},
		{name: "not a report", in: `{"hello":"world"}`, wantErr: report.ErrNotReport},
		{name: "not json", in: `<html>`},
		{name: "array", in: `[1,2]`},
		{name: "trailing data", in: `{"schema_version":"1","result":{}} {}`},
		{name: "bad schema version type", in: `{"schema_version":1}`},
		{name: "bad field", in: `{"schema_version":"1","findings":"many"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, err := report.ReadJSON(strings.NewReader(tt.in))
			if tt.check != nil {
				require.NoError(t, err)
				tt.check(t, in)
				return
			}
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
		})
	}
}

// FuzzReadJSON: ReadJSON never panics, and what it reads writes and reads
// back to the same document.
func FuzzReadJSON(f *testing.F) {
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, fixtureInput(f, true)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	bare, _ := json.Marshal(fixture(f, "bare", 5, 1, false))
	f.Add(bare)
	for _, s := range []string{`{"schema_version":"1"}`, `{"schema_version":"2"}`, `{"start":"2026-01-01T00:00:00Z","metrics":{}}`, `null`, `{}`,
		`{"start":"2026-01-01T00:00:00Z","metrics":{},"thresholds":[{"stAtus":"no_data"}]}`} { // read, written, then not read back
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := report.ReadJSON(bytes.NewReader(b))
		if err != nil {
			return
		}
		var first, second bytes.Buffer
		if err := report.WriteJSON(&first, in); err != nil {
			return // values JSON cannot carry (NaN evidence) are refused, not panicked on
		}
		back, err := report.ReadJSON(bytes.NewReader(first.Bytes()))
		require.NoError(t, err)
		require.NoError(t, report.WriteJSON(&second, back))
		require.Equal(t, first.String(), second.String())
	})
}

func TestRedact(t *testing.T) {
	t.Parallel()
	res := fixture(t, "secrets", 5, 1, false)
	res.Config.Env = map[string]string{"DB_PASSWORD": "pw1", "AUTH_HEADER": "pw2", "REGION": "eu"}
	res.Config.Target.AuthToken = "pw3"
	res.Config.Target.CustomHeaders = map[string]string{"X-Api-Key": "pw4", "Accept": "text/plain"}
	res.Config.Target.Endpoints[0].Path = "https://bob:pw5@127.0.0.1/x"
	res.Config.Target.Endpoints[1].Headers = map[string]string{"Cookie": "pw6"}
	orig, err := json.Marshal(res)
	require.NoError(t, err)

	out, err := json.Marshal(report.Redact(res))
	require.NoError(t, err)
	for _, secret := range []string{"pw1", "pw2", "pw3", "pw4", "pw5", "pw6", "hunter2"} {
		assert.NotContains(t, string(out), secret)
	}
	for _, kept := range []string{`"eu"`, "text/plain", "bob", "127.0.0.1:8080"} {
		assert.Contains(t, string(out), kept)
	}
	again, err := json.Marshal(res)
	require.NoError(t, err)
	assert.Equal(t, string(orig), string(again), "Redact must not modify its argument")
}
