package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

var startSeeds = []string{
	``, `{`, `null`, `[]`, `{"test_type":"load"}`,
	`{"test_type":"load","target":{"base_url":"http://127.0.0.1:1","endpoints":["/"]},"bogus":1}`,
	`{"test_type":"nope","virtual_users":-3,"duration":"1m","duration_minutes":2,"ramp_up_duration_seconds":-1}`,
	`{"test_type":"smoke","target":{"base_url":"ftp://x","endpoints":[]}}`,
	`{"test_type":"smoke","target":{"base_url":"http://127.0.0.1:1","endpoints":["/"]},"thresholds":{"http_req_duration":["p(95) <<< 3"]}}`,
	`{"test_type":"smoke","script":"export default function() { http.get('http://example.com') }"}`,
	`{"test_type":"custom","target":{"base_url":"http://127.0.0.1:1","endpoints":["/","http://8.8.8.8/x"]},"options":{"vus":900,"duration":"2h"}}`,
	`{"test_type":"custom","target":{"base_url":"http://localhost:1","endpoints":[{"method":"POST","path":"/a","body":{"x":1}}]},"options":{"scenarios":{"e":{"executor":"externally-controlled","vus":1,"maxVUs":2,"duration":"0s"}}}}`,
	`{"test_type":"spike","virtual_users":5,"duration":"10s","target":{"base_url":"http://[::1]:1","endpoints":["/"],"auth_token":"s"}}`,
}

// FuzzStartBody: no body makes the start path panic or answer 500; every
// rejection lists at least one problem.
func FuzzStartBody(f *testing.F) {
	for _, s := range startSeeds {
		f.Add([]byte(s))
	}
	st, err := store.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Store: st, InitTimeout: 200 * time.Millisecond, LookupHost: func(context.Context, string) ([]netip.Addr, error) {
		return nil, errors.New("no DNS in fuzzing")
	}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		_ = st.Close()
	})
	p := principal{tenant: store.Tenant{ID: "fuzz"}, keyID: "key-fuzz"}
	req := httptest.NewRequest("POST", "/load-test/start", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := loadtest.DecodeTestSpec(body)
		if err == nil {
			var prep prepared
			if prep, err = srv.prepare(context.Background(), p, startRequest{spec: spec}); err == nil {
				prep.discard()
			}
			_ = redactSpec(spec)
		}
		if err == nil {
			return
		}
		rec := httptest.NewRecorder()
		srv.writeError(rec, req, err)
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusForbidden {
			t.Fatalf("status %d for %q: %v", rec.Code, body, err)
		}
		var eb errorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || len(eb.Errors) == 0 {
			t.Fatalf("no problem listed for %q: %s", body, rec.Body)
		}
	})
}

// FuzzQueries: the quick-stress and list queries never panic; what they
// accept is a valid spec or filter.
func FuzzQueries(f *testing.F) {
	for _, s := range []string{
		"", "target_url=http://127.0.0.1:8080/x?y=1&duration_minutes=0.5&virtual_users=3",
		"duration_minutes=-1&virtual_users=x&what=1", "target_url=ftp://x", "target_url=http://[::1]/&duration_minutes=NaN",
		"state=completed&limit=5&since=2026-01-02T15:04:05Z", "state=nope&limit=0&since=yesterday&bogus=1", "cursor=zz&name=a&test_type=load",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if spec, err := quickStressSpec(q); err == nil {
			if spec.Target == nil || spec.Validate() != nil {
				t.Fatalf("accepted an invalid quick-stress query %q", raw)
			}
		}
		if f, err := listFilter(q); err == nil {
			if f.Limit < 0 || f.Limit > store.MaxLimit || (f.State != "" && !f.State.Valid()) {
				t.Fatalf("accepted an invalid list query %q: %+v", raw, f)
			}
		}
	})
}

func TestRedactSpec(t *testing.T) {
	t.Parallel()
	spec, err := loadtest.DecodeTestSpec([]byte(`{"test_type":"smoke",
		"target":{"base_url":"http://bob:hunter2@127.0.0.1:1","endpoints":[{"path":"/","headers":{"Cookie":"c=hunter2"}}],
			"auth_token":"hunter2","custom_headers":{"X-Auth":"hunter2","Accept":"text/plain"}},
		"env":{"DB_PASSWORD":"hunter2","MODE":"fast","URL":"https://u:hunter2@example.com/x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(redactSpec(spec))
	if strings.Contains(got, "hunter2") {
		t.Fatalf("a secret is left: %s", got)
	}
	for _, keep := range []string{`"MODE":"fast"`, `"Accept":"text/plain"`, "bob:%5BREDACTED%5D@127.0.0.1:1", "u:%5BREDACTED%5D@example.com/x"} {
		if !strings.Contains(got, keep) {
			t.Errorf("%s is missing from %s", keep, got)
		}
	}
}
