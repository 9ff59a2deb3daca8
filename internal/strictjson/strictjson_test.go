package strictjson_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/strictjson"
)

type ms time.Duration

func (d *ms) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = ms(v)
	return err
}

type endpoint struct {
	Path   string `json:"path"`
	Weight int    `json:"weight,omitempty"`
}

type embedded struct {
	Tags map[string]string `json:"tags"`
}

type spec struct {
	Name      string     `json:"name"`
	VUs       *int64     `json:"virtual_users"`
	Rate      float64    `json:"rate"`
	Wait      *ms        `json:"wait"`
	Endpoints []endpoint `json:"endpoints"`
	Raw       json.RawMessage
	Hidden    string `json:"-"`
	embedded
}

func messages(err error) []string {
	var out []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		out = append(out, e.Error())
	}
	return out
}

func TestDecodeReportsEveryProblemWithItsPosition(t *testing.T) {
	t.Parallel()
	src := `{
  "name": "x",
  "virtual_users": "two",
  "bogus": {"deep": [1, 2]},
  "endpoints": [{"path": "/"}, {"path": 3, "weight": 1.5, "color": "red"}],
  "wait": "soon",
  "Hidden": 1,
  "tags": {"a": 1},
  "other": 2
}`
	var s spec
	err := strictjson.Decode([]byte(src), &s)
	require.Error(t, err)
	assert.Equal(t, []string{
		`virtual_users: want an integer (64-bit), got the string "two" (line 3, column 20)`,
		`bogus: unknown field (line 4, column 3)`,
		`endpoints[1].path: want a string, got the number 3 (line 5, column 41)`,
		`endpoints[1].weight: want an integer (64-bit), got the number 1.5 (line 5, column 54)`,
		`endpoints[1].color: unknown field (line 5, column 59)`,
		`wait: time: invalid duration "soon" (line 6, column 11)`,
		`Hidden: unknown field (line 7, column 3)`,
		`tags.a: want a string, got the number 1 (line 8, column 17)`,
		`other: unknown field (line 9, column 3)`,
	}, messages(err))
	var p *strictjson.Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, "virtual_users", p.Path)
	assert.Equal(t, spec{}, s, "nothing is decoded when there is a problem")
}

func TestDecodeSyntaxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, src, want string }{
		{"trailing comma", "{\n  \"name\": \"x\",\n}\n", `invalid character '}' looking for beginning of object key string (line 3, column 1)`},
		{"truncated", "{\n  \"name\": ", `unexpected EOF (line 2, column 11)`},
		{"empty", "", `unexpected EOF (line 1, column 1)`},
		{"two values", "{}\n {}", `unexpected data after the JSON value (line 2, column 2)`},
		{"non-ASCII column", "{\"name\": \"é\" x}", `invalid character 'x' after object key:value pair (line 1, column 14)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s spec
			err := strictjson.Decode([]byte(tc.src), &s)
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestDecodeIsJSONUnmarshal(t *testing.T) {
	t.Parallel()
	src := `{"name": "x", "virtual_users": 3, "rate": 2.5, "wait": "1s", "endpoints": [{"path": "/a", "weight": 2}],
		"raw": {"any": [1, "thing"]}, "tags": {"k": "v"}, "NAME": "case-insensitive, as encoding/json"}`
	var got, want spec
	require.NoError(t, strictjson.Decode([]byte(src), &got))
	require.NoError(t, json.Unmarshal([]byte(src), &want))
	assert.Equal(t, want, got)
	assert.Equal(t, "case-insensitive, as encoding/json", got.Name)
}

func TestMembersAndDecodeMember(t *testing.T) {
	t.Parallel()
	src := []byte("{\n  \"vus\": 2,\n  \"duration\": [1]\n}")
	members, err := strictjson.Members(src)
	require.NoError(t, err)
	require.Len(t, members, 2)
	assert.Equal(t, "duration", members[1].Name)
	var d string
	err = strictjson.DecodeMember(src, members[1], "options.duration", &d)
	assert.EqualError(t, err, "options.duration: want a string, got an array (line 3, column 15)")

	_, err = strictjson.Members([]byte("\n[1]"))
	assert.EqualError(t, err, "want an object, got an array (line 2, column 1)")
}

func TestRelocate(t *testing.T) {
	t.Parallel()
	outer := []byte("{\n  \"options\": {\"vus\": \"x\"}\n}")
	inner := []byte(`{"vus": "x"}`)
	var o struct {
		VUs int `json:"vus"`
	}
	err := strictjson.Decode(inner, &o)
	require.Error(t, err)
	wrapped := errors.Join(errors.New("other"), err)
	strictjson.Relocate(wrapped, outer, 15)
	assert.Equal(t, "other\nvus: want an integer (64-bit), got the string \"x\" (line 2, column 22)", wrapped.Error())
}

func FuzzDecode(f *testing.F) {
	f.Add(`{"name": "x", "virtual_users": "two", "endpoints": [{"path": 3}], "bogus": 1}`)
	f.Add("{\n  \"name\": \"x\",\n}\n")
	f.Add(`{"wait": "1s", "tags": {"a": "b"}, "raw": null}`)
	f.Fuzz(func(t *testing.T, src string) {
		var got, want spec
		err := strictjson.Decode([]byte(src), &got)
		if err == nil {
			require.NoError(t, json.Unmarshal([]byte(src), &want), "strictjson accepted what encoding/json refuses")
			assert.Equal(t, want, got)
		}
	})
}
