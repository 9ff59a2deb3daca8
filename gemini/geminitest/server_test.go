package geminitest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genai"

	"github.com/loadlens/loadlens/gemini/geminitest"
)

func TestMain(m *testing.M) {
	// go.opencensus.io, which Google's auth library imports, starts a
	// worker goroutine in its init.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

const structured = `{"systemInstruction":{"parts":[{"text":"be brief"}]},
	"contents":[{"role":"user","parts":[{"text":"Evidence: {\"items\":[]}"}]}],
	"generationConfig":{"temperature":0.2,"responseMimeType":"application/json","responseSchema":{"type":"OBJECT"}}}`

// post sends body to path and decodes the JSON answer.
func post(t *testing.T, srv *geminitest.Server, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, strings.TrimSuffix(srv.URL(), "/")+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	return resp.StatusCode, out
}

func TestWireFormat(t *testing.T) {
	t.Parallel()
	srv := geminitest.NewServer(geminitest.Options{Key: "k"})
	defer srv.Close()
	srv.Enqueue(geminitest.Reply{Text: `{"summary":"ok"}`, InputTokens: 10, OutputTokens: 3},
		geminitest.Reply{Status: 429, RetryDelay: 1500 * time.Millisecond},
		geminitest.Reply{BlockReason: "SAFETY"})

	code, body := post(t, srv, "/v1beta/models/gemini-2.5-flash:generateContent", "k", structured)
	assert.Equal(t, 200, code)
	cand := body["candidates"].([]any)[0].(map[string]any)
	assert.Equal(t, "STOP", cand["finishReason"])
	assert.Equal(t, `{"summary":"ok"}`, cand["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"])
	assert.Equal(t, map[string]any{"promptTokenCount": 10.0, "candidatesTokenCount": 3.0, "totalTokenCount": 13.0}, body["usageMetadata"])
	assert.Equal(t, "gemini-2.5-flash", body["modelVersion"])

	code, body = post(t, srv, "/v1beta/models/gemini-2.5-flash:generateContent", "k", structured)
	assert.Equal(t, 429, code)
	e := body["error"].(map[string]any)
	assert.Equal(t, 429.0, e["code"])
	assert.Equal(t, "RESOURCE_EXHAUSTED", e["status"])
	assert.Contains(t, e["details"], map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"})

	code, body = post(t, srv, "/v1beta/models/gemini-2.5-flash:generateContent", "k", structured)
	assert.Equal(t, 200, code)
	assert.Equal(t, map[string]any{"blockReason": "SAFETY"}, body["promptFeedback"])
	assert.NotContains(t, body, "candidates")

	reqs := srv.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, "gemini-2.5-flash", reqs[0].Model)
	assert.Equal(t, "k", reqs[0].APIKey)
	assert.Equal(t, "be brief", reqs[0].SystemText())
	assert.JSONEq(t, `{"items":[]}`, string(reqs[0].EvidenceJSON()))
}

func TestRejections(t *testing.T) {
	t.Parallel()
	srv := geminitest.NewServer(geminitest.Options{Key: "k"})
	defer srv.Close()
	srv.Enqueue(geminitest.Reply{Text: "{}"})
	for _, tc := range []struct {
		name, path, key, body string
		code                  int
		status, message       string
	}{
		{"no key", "/v1beta/models/m:generateContent", "", structured, 400, "INVALID_ARGUMENT", "API key not valid"},
		{"wrong key", "/v1beta/models/m:generateContent", "nope", structured, 400, "INVALID_ARGUMENT", "API key not valid"},
		{"unknown method", "/v1beta/models/m:countTokens", "k", structured, 404, "NOT_FOUND", "no such method"},
		{"bad JSON", "/v1beta/models/m:generateContent", "k", "{", 400, "INVALID_ARGUMENT", "Invalid JSON payload"},
		{"unstructured", "/v1beta/models/m:generateContent", "k", `{"contents":[{"parts":[{"text":"hi"}]}]}`, 400,
			"INVALID_ARGUMENT", "request lacks systemInstruction, generationConfig.responseSchema"},
	} {
		code, body := post(t, srv, tc.path, tc.key, tc.body)
		assert.Equal(t, tc.code, code, tc.name)
		e := body["error"].(map[string]any)
		assert.Equal(t, float64(tc.code), e["code"], tc.name)
		assert.Equal(t, tc.status, e["status"], tc.name)
		assert.Contains(t, e["message"], tc.message, tc.name)
	}
	// Rejected requests did not use the scripted reply.
	code, _ := post(t, srv, "/v1beta/models/m:generateContent", "k", structured)
	assert.Equal(t, 200, code)

	lax := geminitest.NewServer(geminitest.Options{Lax: true})
	defer lax.Close()
	lax.Enqueue(geminitest.Reply{Text: "hi"})
	code, _ = post(t, lax, "/v1beta/models/m:generateContent", "any", `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	assert.Equal(t, 200, code)
	code, _ = post(t, lax, "/v1beta/models/m:generateContent", "any", `{}`)
	assert.Equal(t, 500, code, "nothing scripted")
}

// TestSDKReadsErrors checks the fake against the real SDK: its error
// bodies decode to genai.APIError with code, status and RetryInfo.
func TestSDKReadsErrors(t *testing.T) {
	t.Parallel()
	srv := geminitest.NewServer(geminitest.Options{Key: "k", Lax: true})
	defer srv.Close()
	srv.Enqueue(geminitest.Reply{Status: 429, RetryDelay: 2 * time.Second, Message: "quota"})
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: "k", Backend: genai.BackendGeminiAPI,
		HTTPClient: srv.Client(), HTTPOptions: genai.HTTPOptions{BaseURL: srv.URL()}})
	require.NoError(t, err)
	_, err = c.Models.GenerateContent(context.Background(), "m", genai.Text("hi"), nil)
	var api genai.APIError
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 429, api.Code)
	assert.Equal(t, "RESOURCE_EXHAUSTED", api.Status)
	assert.Equal(t, "quota", api.Message)
	require.Len(t, api.Details, 2)
	assert.Equal(t, "2s", api.Details[1]["retryDelay"])
}

func TestHangReleasedByClose(t *testing.T) {
	t.Parallel()
	srv := geminitest.NewServer(geminitest.Options{Lax: true})
	srv.Enqueue(geminitest.Reply{Hang: true})
	done := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Post(srv.URL()+"v1beta/models/m:generateContent", "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Calls() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, 1, srv.Calls())
	srv.Close() // returns only when the hanging handler has
	<-done
}
