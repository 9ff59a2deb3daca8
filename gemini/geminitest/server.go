// Package geminitest is a fake Gemini API for tests.
//
// It is an HTTP server on 127.0.0.1 that speaks the real REST wire format of
// generateContent (POST /v1beta/models/{model}:generateContent with the
// x-goog-api-key header, or Vertex AI's
// /v1beta1/projects/{p}/locations/{l}/publishers/
// google/models/{model}:generateContent) and answers with scripted replies:
// answers, Google error bodies with "code", "status" and RetryInfo details,
// blocked prompts, truncated answers, slow or hanging answers.
//
// It records every request, and by default rejects (400 INVALID_ARGUMENT)
// requests without a system instruction, a response schema, a JSON
// response MIME type, a temperature or a JSON evidence pack in the user
// turn, so that a test sees what a structured-output client must send.
//
// Usage:
//
//	srv := geminitest.NewServer(geminitest.Options{Key: "test-key"})
//	defer srv.Close()
//	srv.Enqueue(geminitest.Reply{Status: 429, RetryDelay: time.Second}, geminitest.Reply{Answer: answer})
//	a, _ := gemini.New(ctx, gemini.Config{APIKey: "test-key", BaseURL: srv.URL()})
//
// It is safe for concurrent use and imports only the standard library.
package geminitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Key is the API key the server requires in x-goog-api-key; empty
	// accepts any key (Vertex AI requests need none).
	Key string
	// Lax accepts requests without the structured-output parts (system
	// instruction, response schema, JSON MIME type, temperature, evidence
	// JSON).
	Lax bool
}

// Reply is one scripted answer. The zero Reply is a 200 with an empty
// answer text.
type Reply struct {
	// Status is the HTTP status; 0 means 200. A status of 400 or more
	// sends a Google error body: {"error": {"code", "message", "status",
	// "details"}}.
	Status int
	// Text is the model's answer text.
	Text string
	// Answer, when not nil, is marshalled to JSON and sent as the text.
	Answer any
	// FinishReason of the candidate; default "STOP".
	FinishReason string
	// BlockReason blocks the prompt: the reply has promptFeedback with it
	// and no candidates.
	BlockReason string
	// Message of an error body; default the status text.
	Message string
	// RetryDelay adds a google.rpc.RetryInfo detail to an error body.
	RetryDelay time.Duration
	// Delay holds the reply back this long, or until the client gives up.
	Delay time.Duration
	// Hang holds the reply until the client gives up or the server closes.
	Hang bool
	// Raw, when set, is the whole body, sent as is with Status.
	Raw string
	// InputTokens and OutputTokens fill usageMetadata; default the
	// request's and the answer's length in bytes divided by 4.
	InputTokens, OutputTokens int
	// ModelVersion is the reply's modelVersion; default the model asked.
	ModelVersion string
}

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	// Model is the model named in the path.
	Model string
	// APIKey is the x-goog-api-key header.
	APIKey string
	// Project and Location are set for Vertex AI paths.
	Project, Location string
	// Body is the decoded request body.
	Body GenerateContentRequest
	// Raw is the body as received.
	Raw []byte
}

// GenerateContentRequest is the REST body of generateContent, the parts
// tests look at.
type GenerateContentRequest struct {
	Contents          []Content        `json:"contents"`
	SystemInstruction *Content         `json:"systemInstruction,omitempty"`
	GenerationConfig  GenerationConfig `json:"generationConfig"`
}

// Content is a turn of the conversation.
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is a part of a turn; only text parts are decoded.
type Part struct {
	Text string `json:"text,omitempty"`
}

// GenerationConfig is the request's generationConfig.
type GenerationConfig struct {
	Temperature      *float64       `json:"temperature,omitempty"`
	MaxOutputTokens  int            `json:"maxOutputTokens,omitempty"`
	CandidateCount   int            `json:"candidateCount,omitempty"`
	ResponseMIMEType string         `json:"responseMimeType,omitempty"`
	ResponseSchema   map[string]any `json:"responseSchema,omitempty"`
}

// SystemText returns the system instruction's text.
func (r Request) SystemText() string {
	if r.Body.SystemInstruction == nil {
		return ""
	}
	return partsText(r.Body.SystemInstruction.Parts)
}

// UserText returns the text of the user turns.
func (r Request) UserText() string {
	var sb strings.Builder
	for _, c := range r.Body.Contents {
		if c.Role == "" || c.Role == "user" {
			sb.WriteString(partsText(c.Parts))
		}
	}
	return sb.String()
}

// EvidenceJSON returns the JSON object in the user turn (from its first
// "{"), or nil when there is none.
func (r Request) EvidenceJSON() []byte {
	t := r.UserText()
	i := strings.IndexByte(t, '{')
	if i < 0 || !json.Valid([]byte(t[i:])) {
		return nil
	}
	return []byte(t[i:])
}

func partsText(ps []Part) string {
	var sb strings.Builder
	for _, p := range ps {
		sb.WriteString(p.Text)
	}
	return sb.String()
}

// Server is the fake Gemini API. Close it when done.
type Server struct {
	opts    Options
	srv     *httptest.Server
	closing chan struct{}
	once    sync.Once

	mu       sync.Mutex
	queue    []Reply
	handler  func(Request) Reply
	requests []Request
}

// NewServer starts a fake on 127.0.0.1.
func NewServer(opts Options) *Server {
	s := &Server{opts: opts, closing: make(chan struct{})}
	// httptest listens on 127.0.0.1.
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL returns the base URL to give the client ("http://127.0.0.1:port/").
func (s *Server) URL() string { return s.srv.URL + "/" }

// Client returns an HTTP client for the server.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close releases hanging replies and stops the server, waiting for its
// handlers.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.srv.Close()
}

// Enqueue appends replies, used one per request in order.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// SetHandler sets the reply for requests when the queue is empty; without
// one such requests get a 500.
func (s *Server) SetHandler(h func(Request) Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handler = h
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Calls returns the number of generateContent requests received, rejected
// ones included.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

var (
	reGemini = regexp.MustCompile(`^/v1beta/models/([^/:]+):generateContent$`)
	reVertex = regexp.MustCompile(`^/v1beta1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):generateContent$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, APIKey: r.Header.Get("x-goog-api-key")}
	vertex := false
	if m := reGemini.FindStringSubmatch(r.URL.Path); m != nil {
		req.Model = m[1]
	} else if m := reVertex.FindStringSubmatch(r.URL.Path); m != nil {
		req.Project, req.Location, req.Model, vertex = m[1], m[2], m[3], true
	} else {
		writeError(w, http.StatusNotFound, "", fmt.Sprintf("fake: no such method: %s %s", r.Method, r.URL.Path), 0)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", "fake: generateContent takes POST", 0)
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "", "fake: reading the body: "+err.Error(), 0)
		return
	}
	req.Raw = raw
	jsonErr := json.Unmarshal(raw, &req.Body)
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	if !vertex && (req.APIKey == "" || (s.opts.Key != "" && req.APIKey != s.opts.Key)) {
		// What the real API says; the key is not echoed.
		writeError(w, http.StatusBadRequest, "", "API key not valid. Please pass a valid API key.", 0)
		return
	}
	if jsonErr != nil {
		writeError(w, http.StatusBadRequest, "", "Invalid JSON payload received. "+jsonErr.Error(), 0)
		return
	}
	if !s.opts.Lax {
		if problem := structuredProblem(req); problem != "" {
			writeError(w, http.StatusBadRequest, "", "fake: "+problem, 0)
			return
		}
	}
	s.mu.Lock()
	var rep Reply
	switch {
	case len(s.queue) > 0:
		rep, s.queue = s.queue[0], s.queue[1:]
	case s.handler != nil:
		h := s.handler
		s.mu.Unlock()
		rep = h(req)
		s.mu.Lock()
	default:
		rep = Reply{Status: http.StatusInternalServerError, Message: "fake: no scripted reply"}
	}
	s.mu.Unlock()

	if rep.Hang || rep.Delay > 0 {
		var timer <-chan time.Time
		if !rep.Hang {
			t := time.NewTimer(rep.Delay)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case <-timer:
		}
	}
	s.reply(w, req, rep)
}

// structuredProblem says what a structured-output request lacks, or "".
func structuredProblem(req Request) string {
	gc := req.Body.GenerationConfig
	var missing []string
	if strings.TrimSpace(req.SystemText()) == "" {
		missing = append(missing, "systemInstruction")
	}
	if gc.ResponseSchema == nil {
		missing = append(missing, "generationConfig.responseSchema")
	}
	if gc.ResponseMIMEType != "application/json" {
		missing = append(missing, `generationConfig.responseMimeType "application/json"`)
	}
	if gc.Temperature == nil {
		missing = append(missing, "generationConfig.temperature")
	}
	if req.EvidenceJSON() == nil {
		missing = append(missing, "an evidence JSON object in the user turn")
	}
	if len(missing) == 0 {
		return ""
	}
	return "request lacks " + strings.Join(missing, ", ")
}

func (s *Server) reply(w http.ResponseWriter, req Request, rep Reply) {
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if rep.Raw != "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.Raw)
		return
	}
	if status >= 400 {
		writeError(w, status, "", rep.Message, rep.RetryDelay)
		return
	}
	text := rep.Text
	if rep.Answer != nil {
		b, err := json.Marshal(rep.Answer)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", "fake: answer does not marshal: "+err.Error(), 0)
			return
		}
		text = string(b)
	}
	in, out := rep.InputTokens, rep.OutputTokens
	if in == 0 {
		in = len(req.Raw) / 4
	}
	if out == 0 {
		out = len(text) / 4
	}
	body := map[string]any{
		"usageMetadata": map[string]any{"promptTokenCount": in, "candidatesTokenCount": out, "totalTokenCount": in + out},
		"modelVersion":  cmpOr(rep.ModelVersion, req.Model),
		"responseId":    fmt.Sprintf("fake-%d", len(req.Raw)),
	}
	if rep.BlockReason != "" {
		body["promptFeedback"] = map[string]any{"blockReason": rep.BlockReason}
	} else {
		body["candidates"] = []any{map[string]any{
			"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}},
			"finishReason": cmpOr(rep.FinishReason, "STOP"),
			"index":        0,
		}}
	}
	writeJSON(w, status, body)
}

// statusNames are google.rpc.Code names of HTTP statuses.
var statusNames = map[int]string{
	400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
	405: "UNIMPLEMENTED", 408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED",
	499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}

// writeError sends a Google error body.
func writeError(w http.ResponseWriter, code int, status, message string, retryDelay time.Duration) {
	if status == "" {
		status = cmpOr(statusNames[code], "UNKNOWN")
	}
	if message == "" {
		message = http.StatusText(code)
	}
	e := map[string]any{"code": code, "message": message, "status": status}
	if retryDelay > 0 {
		e["details"] = []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
				"violations": []any{map[string]any{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests"}}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo",
				"retryDelay": fmt.Sprintf("%gs", retryDelay.Seconds())},
		}
	}
	writeJSON(w, code, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ") // the real API indents too
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
