package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/loadlens/loadlens/metrics"
)

// Target is a request plan: what VUs run when a test has no script. Each
// iteration requests the endpoints in order, checks each status, and tags
// each request with the endpoint's name. It is what the agent's API and JSON
// test files describe.
type Target struct {
	Name    string `json:"name,omitempty"`
	BaseURL string `json:"base_url"`
	// Endpoints are requested in order, once per iteration.
	Endpoints []Endpoint `json:"endpoints"`
	// AuthToken, when set, is sent as "Authorization: Bearer TOKEN". It is a
	// secret: never in samples, logs or results.
	AuthToken string `json:"auth_token,omitempty"`
	// CustomHeaders are sent with every request; those with secret-looking
	// names are redacted in results.
	CustomHeaders map[string]string `json:"custom_headers,omitempty"`
}

// Endpoint is one request of a Target. In JSON it is either a path string
// or an object.
type Endpoint struct {
	Method  string            `json:"method,omitempty"` // default GET
	Path    string            `json:"path"`             // relative to BaseURL, or absolute
	Body    string            `json:"body,omitempty"`   // sent as is; JSON bodies get a JSON content type
	Headers map[string]string `json:"headers,omitempty"`
	// Name tags the endpoint's samples; default "METHOD path".
	Name string `json:"name,omitempty"`
	// ExpectStatus is the status the check expects; 0 means any 2xx or 3xx.
	ExpectStatus int `json:"expect_status,omitempty"`
}

// UnmarshalJSON accepts a path string or an object; an object's body may be
// a string or any JSON value (sent as JSON).
func (e *Endpoint) UnmarshalJSON(b []byte) error {
	var path string
	if err := json.Unmarshal(b, &path); err == nil {
		*e = Endpoint{Path: path}
		return nil
	}
	var raw struct {
		Method       string            `json:"method"`
		Path         string            `json:"path"`
		Body         json.RawMessage   `json:"body"`
		Headers      map[string]string `json:"headers"`
		Name         string            `json:"name"`
		ExpectStatus int               `json:"expect_status"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("endpoint: want a path or {method, path, body, headers, name, expect_status}: %w", err)
	}
	*e = Endpoint{Method: raw.Method, Path: raw.Path, Headers: raw.Headers, Name: raw.Name, ExpectStatus: raw.ExpectStatus}
	if len(raw.Body) > 0 && string(raw.Body) != "null" {
		var s string
		if err := json.Unmarshal(raw.Body, &s); err == nil {
			e.Body = s
		} else {
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw.Body); err != nil {
				return fmt.Errorf("endpoint body: %w", err)
			}
			e.Body = compact.String()
			if e.Headers == nil || headerValue(e.Headers, "Content-Type") == "" {
				e.Headers = maps.Clone(e.Headers)
				if e.Headers == nil {
					e.Headers = map[string]string{}
				}
				e.Headers["Content-Type"] = "application/json"
			}
		}
	}
	return nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (e Endpoint) method() string {
	if e.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(e.Method)
}

func (e Endpoint) name() string {
	if e.Name != "" {
		return e.Name
	}
	return e.method() + " " + e.Path
}

// Validate reports every problem of the target at once.
func (t *Target) Validate() error {
	var errs []error
	u, err := url.Parse(t.BaseURL)
	switch {
	case t.BaseURL == "":
		errs = append(errs, errors.New("target.base_url: required"))
	case err != nil:
		errs = append(errs, fmt.Errorf("target.base_url: %v", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("target.base_url: want an http:// or https:// URL with a host, got %q", t.BaseURL))
	}
	if len(t.Endpoints) == 0 {
		errs = append(errs, errors.New("target.endpoints: at least one endpoint is required"))
	}
	for i, e := range t.Endpoints {
		if e.Path == "" {
			errs = append(errs, fmt.Errorf("target.endpoints[%d].path: required", i))
		}
		if !validMethod(e.method()) {
			errs = append(errs, fmt.Errorf("target.endpoints[%d].method: unknown method %q", i, e.Method))
		}
		if e.ExpectStatus != 0 && (e.ExpectStatus < 100 || e.ExpectStatus > 599) {
			errs = append(errs, fmt.Errorf("target.endpoints[%d].expect_status: must be 100 … 599, got %d", i, e.ExpectStatus))
		}
	}
	return errors.Join(errs...)
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// Redacted returns a copy with the auth token, secret-looking headers and
// passwords in URLs replaced by Redacted.
func (t Target) Redacted() Target {
	if t.AuthToken != "" {
		t.AuthToken = Redacted
	}
	t.BaseURL = redactURL(t.BaseURL)
	t.CustomHeaders = redactHeaders(t.CustomHeaders)
	eps := make([]Endpoint, len(t.Endpoints))
	for i, e := range t.Endpoints {
		e.Headers = redactHeaders(e.Headers)
		e.Path = redactURL(e.Path)
		eps[i] = e
	}
	t.Endpoints = eps
	return t
}

func redactHeaders(h map[string]string) map[string]string {
	if len(h) == 0 {
		return h
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		if secretKey.MatchString(k) {
			v = Redacted
		}
		out[k] = v
	}
	return out
}

// Execs implements ExecLister: a target runs as the default function.
func (t *Target) Execs() []string { return []string{DefaultExec} }

// NewVU implements Program.
func (t *Target) NewVU(_ context.Context, vu *VU) (VUCode, error) {
	base := strings.TrimSuffix(t.BaseURL, "/")
	reqs := make([]targetRequest, len(t.Endpoints))
	for i, e := range t.Endpoints {
		h := http.Header{}
		for k, v := range t.CustomHeaders {
			h.Set(k, v)
		}
		for k, v := range e.Headers {
			h.Set(k, v)
		}
		if t.AuthToken != "" {
			h.Set("Authorization", "Bearer "+t.AuthToken)
		}
		u := e.Path
		if !strings.Contains(u, "://") {
			u = base + "/" + strings.TrimPrefix(u, "/")
		}
		reqs[i] = targetRequest{method: e.method(), url: u, body: []byte(e.Body), header: h, name: e.name(),
			tags: metrics.NewTags("name", e.name()), expect: e.ExpectStatus}
	}
	return &targetVU{vu: vu, reqs: reqs}, nil
}

type targetRequest struct {
	method, url string
	body        []byte
	header      http.Header
	name        string
	tags        metrics.Tags
	expect      int
}

type targetVU struct {
	vu   *VU
	reqs []targetRequest
}

// Run implements VUCode: one pass over the endpoints.
func (t *targetVU) Run(ctx context.Context, _ string) error {
	for i := range t.reqs {
		req := &t.reqs[i]
		status, err := t.vu.request(ctx, req.method, req.url, req.body, req.header, req.tags)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return err
		}
		ok := status >= 200 && status < 400
		check := req.name + " status is 2xx/3xx"
		if req.expect != 0 {
			ok = status == req.expect
			check = fmt.Sprintf("%s status is %d", req.name, req.expect)
		}
		t.vu.Check(check, ok)
	}
	return nil
}

// redactURL replaces the password of a URL with Redacted.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	return u.String()
}
