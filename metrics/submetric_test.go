package metrics

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseMetricKeyCases is TestParseMetricKey's table; it seeds
// FuzzParseMetricKey too.
var parseMetricKeyCases = []struct {
	in     string
	parent string
	tags   map[string]string
	err    string
}{
	{in: "http_req_duration", parent: "http_req_duration", tags: map[string]string{}},
	{in: "http_req_duration{status:200}", parent: "http_req_duration", tags: map[string]string{"status": "200"}},
	{in: "http_req_duration{ status : 200 }", parent: "http_req_duration", tags: map[string]string{"status": "200"}},
	{in: `http_req_duration{status:"200",method:'GET'}`, parent: "http_req_duration", tags: map[string]string{"status": "200", "method": "GET"}},
	{in: "checks{check:a:b}", parent: "checks", tags: map[string]string{"check": "a:b"}},
	{in: "iterations{group:}", parent: "iterations", tags: map[string]string{"group": ""}},
	{in: "http_req_duration{scenario:car}", parent: "http_req_duration", tags: map[string]string{"scenario": "car"}},
	{in: "x{a:1,a:2}", parent: "x", tags: map[string]string{"a": "2"}},
	{in: "", err: "empty metric name"},
	{in: "{a:1}", err: "empty metric name"},
	{in: "x{a:1", err: "must end with '}'"},
	{in: "x}", err: "without '{'"},
	{in: "x{a}", err: "not key:value"},
	{in: "x{}", err: "not key:value"},
	{in: "x{:1}", err: "empty key"},
	{in: "x{a:1,}", err: "not key:value"},
}

func TestParseMetricKey(t *testing.T) {
	t.Parallel()
	for _, tt := range parseMetricKeyCases {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			sm, err := ParseMetricKey(tt.in)
			if tt.err != "" {
				var nameErr *MetricNameError
				require.ErrorAs(t, err, &nameErr)
				assert.Contains(t, err.Error(), tt.err)
				assert.Equal(t, tt.in, nameErr.Name)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.in, sm.Name)
			assert.Equal(t, tt.parent, sm.Parent)
			assert.Equal(t, tt.tags, sm.Tags.Map())
		})
	}
}

func TestSubmetricMatches(t *testing.T) {
	t.Parallel()
	sm, err := ParseMetricKey("http_req_duration{status:200,method:GET}")
	require.NoError(t, err)
	assert.True(t, sm.Matches(NewTags("status", "200", "method", "GET", "url", "/")))
	assert.False(t, sm.Matches(NewTags("status", "200")))
	assert.Equal(t, "http_req_duration{method:GET,status:200}", sm.String())
}

func FuzzParseMetricKey(f *testing.F) {
	for _, tt := range parseMetricKeyCases {
		f.Add(tt.in)
	}
	for _, s := range []string{`a{ "k" : 'v' ,b:c}`, "{", "}", "a{b:}", `a{"k:v"}`, "a{k:'v,w'}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sm, err := ParseMetricKey(s)
		if err != nil {
			return
		}
		back, err := ParseMetricKey(sm.String())
		require.NoError(t, err, "String() = %q", sm.String())
		require.Equal(t, sm.Parent, back.Parent)
		require.True(t, sm.Tags.Equal(back.Tags), "%v != %v", sm.Tags, back.Tags)
	})
}
