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
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/loadlens/loadlens/internal/redact"
	"github.com/loadlens/loadlens/metrics"
	"github.com/loadlens/loadlens/scenarios"
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

// name is the endpoint's name tag, with secrets in its URL hidden: names
// reach check names, results, reports and the agent's database.
func (e Endpoint) name() string {
	if e.Name != "" {
		return redact.URL(e.Name)
	}
	return e.method() + " " + redact.URL(e.Path)
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
		errs = append(errs, fmt.Errorf("target.base_url: want an http:// or https:// URL with a host, got %q", redact.URL(t.BaseURL)))
	}
	errs = append(errs, headerProblems("target.custom_headers", t.CustomHeaders)...)
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
		errs = append(errs, headerProblems(fmt.Sprintf("target.endpoints[%d].headers", i), e.Headers)...)
	}
	return errors.Join(errs...)
}

// headerProblems reports header names and values that HTTP cannot carry
// (a CR or LF would split the request), each named by its JSON path.
func headerProblems(field string, h map[string]string) []error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(h)) {
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			errs = append(errs, fmt.Errorf("%s: %q is not a valid header name", field, k))
		case !httpguts.ValidHeaderFieldValue(h[k]):
			errs = append(errs, fmt.Errorf("%s.%s: the value has a control character (CR, LF or NUL), which HTTP headers cannot carry", field, k))
		}
	}
	return errs
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
	t.BaseURL = redact.URL(t.BaseURL)
	t.CustomHeaders = redact.Map(t.CustomHeaders)
	eps := make([]Endpoint, len(t.Endpoints))
	for i, e := range t.Endpoints {
		e.Headers = redact.Map(e.Headers)
		e.Path = redact.URL(e.Path)
		e.Name = redact.URL(e.Name)
		e.Body = redact.Body(e.Body)
		eps[i] = e
	}
	t.Endpoints = eps
	return t
}

// Execs implements ExecLister: a target runs as the default function.
func (t *Target) Execs() []string { return []string{scenarios.DefaultExec} }

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
		check := e.name() + " status is 2xx/3xx"
		if e.ExpectStatus != 0 {
			check = fmt.Sprintf("%s status is %d", e.name(), e.ExpectStatus)
		}
		reqs[i] = targetRequest{method: e.method(), url: u, body: []byte(e.Body), header: h, check: check,
			tags: metrics.NewTags("name", e.name()), expect: e.ExpectStatus}
	}
	return &targetVU{vu: vu, reqs: reqs}, nil
}

type targetRequest struct {
	method, url string
	body        []byte
	header      http.Header
	check       string // the name of the check of its status
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
		if req.expect != 0 {
			ok = status == req.expect
		}
		t.vu.Check(req.check, ok)
	}
	return nil
}
