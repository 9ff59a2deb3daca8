package loadtest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/scenarios"
)

func TestDecodeK6Options(t *testing.T) {
	t.Parallel()
	o, err := DecodeK6Options([]byte(`{
		"vus": 2, "duration": "5s",
		"thresholds": {"http_req_duration": ["p(95)<500"]},
		"tags": {"team": "a"}, "discardResponseBodies": true, "setupTimeout": "2m", "maxRedirects": 0,
		"ext": {"loadimpact": {}}, "hosts": {}
	}`))
	require.NoError(t, err)
	assert.Equal(t, int64(2), *o.VUs)
	assert.Equal(t, 5*time.Second, *o.Duration)
	assert.Equal(t, map[string]string{"team": "a"}, o.Options.Tags)
	assert.True(t, o.Options.DiscardResponseBodies)
	assert.Equal(t, 2*time.Minute, o.Options.SetupTimeout)
	require.NotNil(t, o.Options.MaxRedirects)
	assert.Equal(t, 0, *o.Options.MaxRedirects)
	assert.Len(t, o.Warnings, 2, "ext and hosts are ignored with warnings")

	var p Plan
	warnings, err := o.Apply(&p)
	require.NoError(t, err)
	assert.Len(t, warnings, 2)
	cv, ok := p.Scenarios["default"].(scenarios.ConstantVUs)
	require.True(t, ok, "%T", p.Scenarios["default"])
	assert.Equal(t, int64(2), cv.VUs)
	assert.Len(t, p.Thresholds["http_req_duration"], 1)
}

func TestDecodeK6OptionsReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := DecodeK6Options([]byte(`{"vus": "many", "duration": "soon", "thresholds": {"a": ["x"]},
		"setupTimeout": true, "scenarios": {"bad name!": {"executor": "constant-vus"}}, "iterations": -1}`))
	require.Error(t, err)
	for _, want := range []string{"options.vus", "options.duration", "options.thresholds", "options.setupTimeout",
		"options.scenarios", "options.iterations"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Contains(t, err.Error(), `options.vus: want an integer (64-bit), got the string "many" (line 1, column 9)`)
	_, err = DecodeK6Options([]byte(`[1]`))
	assert.EqualError(t, err, "options: want an object, got an array (line 1, column 1)")
	_, err = DecodeK6Options([]byte("{\n  \"vus\": 1,\n}"))
	assert.EqualError(t, err, "options: invalid character '}' looking for beginning of object key string (line 3, column 1)")
}

// CLI flags over script options, as k6: a shortcut on top replaces the
// scenarios below, vus from below stay, engine options merge key by key.
func TestK6OptionsOverride(t *testing.T) {
	t.Parallel()
	script, err := DecodeK6Options([]byte(`{"vus": 5, "scenarios": {"s": {"executor": "shared-iterations", "iterations": 3}},
		"thresholds": {"checks": ["rate>0.9"]}, "tags": {"a": "1"}, "userAgent": "script"}`))
	require.NoError(t, err)
	cli, err := DecodeK6Options([]byte(`{"duration": "10s", "userAgent": "cli", "thresholds": {"http_reqs": ["count>1"]}}`))
	require.NoError(t, err)
	merged := script.Override(cli)
	var p Plan
	_, err = merged.Apply(&p)
	require.NoError(t, err)
	cv, ok := p.Scenarios["default"].(scenarios.ConstantVUs)
	require.True(t, ok, "%T", p.Scenarios["default"])
	assert.Equal(t, ConstantVUsOf(5, 10*time.Second), cv)
	assert.Equal(t, new("cli"), p.Options.UserAgent)
	assert.Equal(t, map[string]string{"a": "1"}, p.Options.Tags, "keys the CLI did not give stay")
	assert.Len(t, p.Thresholds, 2)

	noVUs := script
	noVUs.VUs = nil
	noShortcut := noVUs.Override(K6Options{})
	_, err = noShortcut.Apply(&p)
	require.NoError(t, err)
	_, kept := p.Scenarios["s"]
	assert.True(t, kept, "without shortcuts on top the script's scenarios stay")

	out, err := json.Marshal(merged)
	require.NoError(t, err)
	back, err := DecodeK6Options(out)
	require.NoError(t, err)
	assert.Equal(t, *merged.Duration, *back.Duration)
	assert.Equal(t, merged.Options.UserAgent, back.Options.UserAgent)
}

func ConstantVUsOf(vus int64, d time.Duration) scenarios.ConstantVUs {
	return scenarios.ConstantVUs{VUs: vus, Duration: d}
}

func TestDecodeTestSpec(t *testing.T) {
	t.Parallel()
	s, err := DecodeTestSpec([]byte(`{"test_type": "spike", "target": {"base_url": "http://127.0.0.1:9", "endpoints": ["/", {"path": "/api", "method": "POST", "body": {"a": 1}}]},
		"duration_minutes": 0.5, "virtual_users": 20, "ramp_up_duration_seconds": 5,
		"thresholds": {"http_req_failed": ["rate<0.1"]}, "options": {"tags": {"env": "ci"}}}`))
	require.NoError(t, err)
	p, _, err := s.Plan()
	require.NoError(t, err)
	rv, ok := p.Scenarios["spike"].(scenarios.RampingVUs)
	require.True(t, ok)
	assert.Equal(t, []scenarios.Stage{{Duration: 5 * time.Second, Target: 4}, {Duration: 30 * time.Second, Target: 20},
		{Duration: 5 * time.Second, Target: 4}, {Duration: 30 * time.Second, Target: 0}}, rv.Stages)
	assert.Equal(t, "spike", p.TestType)
	assert.Equal(t, map[string]string{"env": "ci"}, p.Options.Tags)
	assert.Len(t, p.Thresholds["http_req_failed"], 1)
	assert.Equal(t, `{"a":1}`, p.Target.Endpoints[1].Body)
	assert.Equal(t, "application/json", p.Target.Endpoints[1].Headers["Content-Type"])

	custom, err := DecodeTestSpec([]byte(`{"test_type": "custom", "target": {"base_url": "http://127.0.0.1:9", "endpoints": ["/"]},
		"options": {"scenarios": {"car": {"executor": "constant-arrival-rate", "rate": 10, "duration": "2s", "preAllocatedVUs": 2}}}}`))
	require.NoError(t, err)
	p, _, err = custom.Plan()
	require.NoError(t, err)
	assert.Equal(t, "constant-arrival-rate", p.Scenarios["car"].Type())
}

func TestDecodeTestSpecReportsEveryProblem(t *testing.T) {
	t.Parallel()
	// The JSON's own problems: every unknown field and wrong type at once,
	// each with its line and column (encoding/json stopped at the first,
	// and said "cannot unmarshal string into Go struct field
	// TestSpec.virtual_users of type int64").
	_, err := DecodeTestSpec([]byte(`{"test_type": "spike", "surprise": 1,
  "virtual_users": "two", "target": {"base_url": 7, "endpoints": ["/"], "extra": true},
  "another": null}`))
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Equal(t, `surprise: unknown field (line 1, column 24)
virtual_users: want an integer (64-bit), got the string "two" (line 2, column 20)
target.base_url: want a string, got the number 7 (line 2, column 50)
target.extra: unknown field (line 2, column 73)
another: unknown field (line 3, column 3)`, err.Error())
	ps := ProblemsOf(err)
	require.Len(t, ps, 5)
	assert.Equal(t, Problem{Path: "virtual_users", Message: `want an integer (64-bit), got the string "two" (line 2, column 20)`, Err: ps[1].Err}, ps[1])
	_, err = DecodeTestSpec([]byte("{\n  \"test_type\": \"smoke\",\n}"))
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Equal(t, "invalid character '}' looking for beginning of object key string (line 3, column 1)", err.Error())
	// The options' problems are placed in the file too.
	_, err = DecodeTestSpec([]byte("{\"test_type\": \"custom\", \"target\": {\"base_url\": \"http://127.0.0.1:9\", \"endpoints\": [\"/\"]},\n" +
		"  \"options\": {\"vus\": 1,\n    \"duration\": 5, \"iterations\": \"3\"}}"))
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Contains(t, err.Error(), `options.iterations: want an integer (64-bit), got the string "3" (line 3, column 34)`)

	_, err = DecodeTestSpec([]byte(`{"test_type": "volcano", "duration": "1m", "duration_minutes": 2, "virtual_users": -1,
		"ramp_up_duration_seconds": -3, "target": {"base_url": "ftp://x", "endpoints": [{"path": "", "method": "FETCH", "expect_status": 7}]},
		"options": {"vus": "x"}}`))
	require.ErrorIs(t, err, ErrInvalidPlan)
	for _, want := range []string{"test_type", "duration_minutes", "virtual_users", "ramp_up_duration_seconds",
		"target.base_url", "target.endpoints[0].path", "target.endpoints[0].method", "target.endpoints[0].expect_status", "options.vus"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = DecodeTestSpec([]byte(`{"test_type": "custom", "target": {"base_url": "http://127.0.0.1:9", "endpoints": ["/"]}}`))
	require.ErrorIs(t, err, ErrInvalidPlan)
	assert.Contains(t, err.Error(), "a custom test needs")
}

// Zero means zero, and values no test can have are errors, never the
// preset's defaults: a 2 s load test with ramp_up_duration_seconds 0 ran
// 10 min 2 s, and duration_minutes 2e8 or 1e308 ran the 30-minute default.
func TestDecodeTestSpecZeroMeansZero(t *testing.T) {
	t.Parallel()
	const target = `"target": {"base_url": "http://127.0.0.1:9", "endpoints": ["/"]}`
	s, err := DecodeTestSpec([]byte(`{"test_type": "load", "virtual_users": 2, "duration": "2s", "ramp_up_duration_seconds": 0, ` + target + `}`))
	require.NoError(t, err)
	p, _, err := s.Plan()
	require.NoError(t, err)
	assert.Equal(t, []scenarios.Stage{{Duration: 0, Target: 2}, {Duration: 2 * time.Second, Target: 2}, {Duration: 0, Target: 0}},
		p.Scenarios["load"].(scenarios.RampingVUs).Stages)

	for _, tc := range []struct{ body, want string }{
		{`"virtual_users": 0`, "virtual_users: must be 1 … 100000000, got 0"},
		{`"virtual_users": 100000001`, "virtual_users: must be 1 … 100000000"},
		{`"duration_minutes": 2e8`, "duration_minutes: must be > 0 and <= 525600, got 2e+08"},
		{`"duration_minutes": 1e308`, "duration_minutes: must be > 0 and <= 525600"},
		{`"duration_minutes": 0`, "duration_minutes: must be > 0"},
		{`"duration": "9000d"`, "duration: must be > 0 and <= 8760h0m0s"},
		{`"ramp_up_duration_seconds": 1e300`, "ramp_up_duration_seconds: must be >= 0 and <= 3.1536e+07, got 1e+300"},
		{`"rate": 0, "test_type": "breakpoint"`, "rate: must be 1 … 1000000000 iterations/s, got 0"},
		{`"script": "export default function () {}", "script_file": "a.js"`, "script, script_file: give one, not both"},
		{`"script_file": "../etc/passwd"`, `script_file: want a relative slash path inside the uploaded files, got "../etc/passwd"`},
		{`"script_file": "/etc/passwd"`, `script_file: want a relative slash path`},
	} {
		_, err := DecodeTestSpec([]byte(`{"test_type": "load", ` + tc.body + `, ` + target + `}`))
		require.ErrorIs(t, err, ErrInvalidPlan, tc.body)
		assert.Contains(t, err.Error(), tc.want, tc.body)
	}
}

func FuzzDecodeTestSpec(f *testing.F) {
	for _, s := range []string{`{"test_type":"smoke","target":{"base_url":"http://127.0.0.1:1","endpoints":["/"]}}`,
		`{"test_type":"custom","options":{"vus":2,"duration":"1s"},"target":{"base_url":"http://x","endpoints":[{"path":"/a"}]}}`,
		`{"options":{"stages":[{"duration":"1s","target":3}]}}`, `{}`, `[]`, `{"duration":123}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeTestSpec(b)
		if err != nil {
			return
		}
		if _, _, err := s.Plan(); err != nil && !s.HasScript() {
			require.ErrorIs(t, err, ErrInvalidPlan)
		}
	})
}

// TestTLSAuthDomainsWarns holds k6 v2.2.0's warning when tlsAuth names
// domains (it ignores them); without domains it says nothing.
func TestTLSAuthDomainsWarns(t *testing.T) {
	t.Parallel()
	for domains, want := range map[string]int{`"domains": ["example.com"], `: 1, ``: 0} {
		o, err := DecodeK6Options([]byte(`{"iterations": 1, "tlsAuth": [{` + domains + `"cert": "c", "key": "k"}]}`))
		require.NoError(t, err)
		var p Plan
		warnings, err := o.Apply(&p)
		require.NoError(t, err)
		assert.Len(t, warnings, want, domains)
		for _, w := range warnings {
			assert.Contains(t, w, "tlsAuth.domains option could be removed in the next releases")
		}
	}
}
