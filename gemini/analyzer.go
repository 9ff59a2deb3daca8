package gemini

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/loadlens/loadlens/anomaly"
	"github.com/loadlens/loadlens/loadtest"
)

// ErrInvalidConfig wraps the problems of a Config that New refuses.
var ErrInvalidConfig = errors.New("gemini: invalid config")

// Reasons an analysis is unavailable without calling the model.
const (
	ReasonNoKey = "no API key"
)

// Analyzer asks Gemini to explain a run from its evidence pack, then checks
// the answer against the evidence ([Ground]). It never fails: any problem
// makes the analysis unavailable, with the reason. It is safe for
// concurrent use; concurrent analyses of the same evidence share one call.
type Analyzer struct {
	cfg    Config
	client *genai.Client
	// reason is set when every analysis is unavailable (no key, client
	// setup failed).
	reason string
	log    *slog.Logger

	// Hooks for tests: the wait between attempts and the jitter source.
	wait   func(ctx context.Context, d time.Duration) error
	jitter func() float64

	mu       sync.Mutex
	inflight map[string]*flight
}

// flight is one call that concurrent analyses of the same evidence share.
type flight struct {
	done chan struct{}
	a    anomaly.AIAnalysis
}

// New returns an Analyzer for cfg. It fails only when cfg contradicts
// itself or holds impossible values (ErrInvalidConfig, with every problem).
// Without an API key or a Vertex AI project it succeeds, and every analysis
// is unavailable ("no API key"); so is every analysis when the client
// cannot be set up (Vertex AI without credentials, for one).
//
// With Vertex AI and no HTTPClient, New looks up Google's Application
// Default Credentials.
func New(ctx context.Context, cfg Config) (*Analyzer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	cfg = cfg.withDefaults()
	a := &Analyzer{cfg: cfg, log: cfg.Logger, wait: wait, jitter: rand.Float64, inflight: map[string]*flight{}}
	if cfg.APIKey == "" && cfg.Vertex.Project == "" {
		a.reason = ReasonNoKey
		return a, nil
	}
	cc := &genai.ClientConfig{HTTPClient: cfg.HTTPClient, HTTPOptions: genai.HTTPOptions{BaseURL: cfg.BaseURL}}
	if cfg.Vertex.Project != "" {
		cc.Backend = genai.BackendVertexAI
		cc.Project, cc.Location = cfg.Vertex.Project, cfg.Vertex.Location
		if cc.HTTPOptions.BaseURL == "" {
			cc.HTTPOptions.BaseURL = vertexBaseURL(cfg.Vertex.Location)
		}
	} else {
		cc.Backend = genai.BackendGeminiAPI
		cc.APIKey = cfg.APIKey
		if cc.HTTPOptions.BaseURL == "" {
			// Explicit, so that the SDK does not take it from the
			// environment.
			cc.HTTPOptions.BaseURL = "https://generativelanguage.googleapis.com/"
		}
		if cc.HTTPClient == nil {
			cc.HTTPClient = &http.Client{}
		}
	}
	client, err := genai.NewClient(ctx, cc)
	if err != nil {
		// The SDK's message dumps the whole ClientConfig, key included.
		msg, _, _ := strings.Cut(err.Error(), "ClientConfig")
		a.reason = "client setup failed: " + truncate(strings.TrimRight(scrubSecret(msg, cfg.APIKey), " .:"), 160)
		a.log.Warn("gemini: client setup failed; every analysis is unavailable", "reason", a.reason)
		return a, nil
	}
	a.client = client
	return a, nil
}

// vertexBaseURL is the Vertex AI endpoint of a location, as the SDK
// chooses it; set here so that the SDK does not read it from the
// environment.
func vertexBaseURL(location string) string {
	switch location {
	case "", "global":
		return "https://aiplatform.googleapis.com/"
	case "us", "eu":
		return "https://aiplatform." + location + ".rep.googleapis.com/"
	}
	return "https://" + location + "-aiplatform.googleapis.com/"
}

// Model returns the model the Analyzer asks.
func (a *Analyzer) Model() string { return a.cfg.Model }

// Analyze explains a run: it builds the evidence pack of res, its anomaly
// report rep and an optional baseline run ([BuildEvidence] with
// Config.Budget), asks the model for a structured answer, checks it against
// the evidence ([Ground]) and returns it labelled with the model, prompt
// version and token usage. An analysis of the same evidence with the same
// model and prompt comes from the cache.
//
// It never fails: with no key, a timeout, retries exhausted, a blocked
// prompt or answer, an answer cut at MaxOutputTokens or one that is not the
// JSON asked for, it returns an analysis with Available false and the
// reason in Unavailable (and Summary "AI analysis unavailable: reason").
// Threshold verdicts are never part of it: they come from the engine.
func (a *Analyzer) Analyze(ctx context.Context, res loadtest.Result, rep anomaly.Report, baseline *loadtest.Result) anomaly.AIAnalysis {
	return a.AnalyzeEvidence(ctx, BuildEvidence(res, rep, baseline, a.cfg.Budget))
}

// AnalyzeEvidence is Analyze on an evidence pack already built.
func (a *Analyzer) AnalyzeEvidence(ctx context.Context, ev Evidence) anomaly.AIAnalysis {
	if a.reason != "" {
		return a.unavailable(a.reason)
	}
	key := a.cacheKey(ev)
	for {
		if c, ok := a.cfg.Cache.Get(key); ok {
			c.Cached = true
			return c
		}
		a.mu.Lock()
		if f, ok := a.inflight[key]; ok {
			a.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return a.unavailable(a.ctxReason(ctx))
			}
			if f.a.Available {
				out := cloneAnalysis(f.a)
				out.Cached = true
				return out
			}
			if ctx.Err() != nil {
				return a.unavailable(a.ctxReason(ctx))
			}
			// The shared call failed, perhaps for its own caller's
			// reasons (cancelled): try again.
			continue
		}
		f := &flight{done: make(chan struct{})}
		a.inflight[key] = f
		a.mu.Unlock()

		f.a = a.analyze(ctx, ev)
		if f.a.Available {
			a.cfg.Cache.Add(key, f.a)
		}
		a.mu.Lock()
		delete(a.inflight, key)
		a.mu.Unlock()
		close(f.done)
		return cloneAnalysis(f.a)
	}
}

// errTimeout is the cause of the context that Config.Timeout ends.
var errTimeout = errors.New("timeout")

func (a *Analyzer) ctxReason(ctx context.Context) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTimeout):
		return "timeout after " + a.cfg.Timeout.String()
	case errors.Is(cause, context.DeadlineExceeded):
		return "timeout"
	default:
		return "cancelled"
	}
}

func (a *Analyzer) unavailable(reason string) anomaly.AIAnalysis {
	reason = scrubSecret(reason, a.cfg.APIKey)
	return anomaly.AIAnalysis{Unavailable: reason, Summary: "AI analysis unavailable: " + reason,
		Model: a.cfg.Model, PromptVersion: PromptVersion}
}

// analyze makes one analysis: the call with its retries, then the checks.
func (a *Analyzer) analyze(parent context.Context, ev Evidence) anomaly.AIAnalysis {
	ctx, cancel := context.WithTimeoutCause(parent, a.cfg.Timeout, errTimeout)
	defer cancel()
	start := time.Now()
	resp, attempts, err := a.generate(ctx, ev)
	if err != nil {
		reason := describe(err, attempts, a.cfg.APIKey)
		if ctx.Err() != nil {
			reason = a.ctxReason(ctx)
		}
		a.log.Warn("gemini: analysis unavailable", "model", a.cfg.Model, "reason", reason, "attempts", attempts)
		return a.unavailable(reason)
	}
	text, err := answerText(resp)
	if err != nil {
		a.log.Warn("gemini: analysis unavailable", "model", a.cfg.Model, "reason", err.Error())
		return a.unavailable(err.Error())
	}
	ans, err := parseAnswer(text)
	if err != nil {
		a.log.Warn("gemini: analysis unavailable", "model", a.cfg.Model, "reason", err.Error(), "answer_chars", len(text))
		return a.unavailable(err.Error())
	}
	out := anomaly.AIAnalysis{Available: true, Model: a.cfg.Model, PromptVersion: PromptVersion,
		Summary: ans.Summary, Conclusive: ans.Conclusion == conclusionConclusive, RootCauses: ans.RootCauses,
		Insights: ans.Insights, Recommendations: ans.Recommendations, Risk: ans.Risk, Limitations: ans.Limitations}
	if resp.ModelVersion != "" {
		out.Model = resp.ModelVersion
	}
	if u := resp.UsageMetadata; u != nil {
		out.InputTokens = int(u.PromptTokenCount)
		out.OutputTokens = int(u.CandidatesTokenCount + u.ThoughtsTokenCount)
	}
	for _, o := range ev.Omitted {
		out.Limitations = append(out.Limitations, "Evidence left out: "+o+".")
	}
	out = Ground(out, ev)
	a.log.Debug("gemini: analysis done", "model", out.Model, "attempts", attempts, "input_tokens", out.InputTokens,
		"output_tokens", out.OutputTokens, "grounding_notes", len(out.Grounding), "elapsed", time.Since(start))
	return out
}

// generate calls the model, retrying 408, 429, 5xx and transport failures
// up to MaxAttempts: after the server's RetryInfo delay when it gives one,
// else after an exponential backoff with jitter. It returns the attempts
// made.
func (a *Analyzer) generate(ctx context.Context, ev Evidence) (*genai.GenerateContentResponse, int, error) {
	prompt := userPrompt(ev.JSON())
	for attempt := 1; ; attempt++ {
		resp, err := a.client.Models.GenerateContent(ctx, a.cfg.Model,
			[]*genai.Content{genai.NewContentFromText(prompt, genai.RoleUser)}, a.generateConfig())
		if err == nil {
			return resp, attempt, nil
		}
		retry, delay := retryable(err)
		a.log.Debug("gemini: attempt failed", "attempt", attempt, "retryable", retry,
			"error", truncate(scrubSecret(err.Error(), a.cfg.APIKey), 300))
		if !retry || attempt >= a.cfg.MaxAttempts || ctx.Err() != nil {
			return nil, attempt, err
		}
		if delay == 0 {
			delay = backoff(attempt, a.cfg.MaxRetryDelay, a.jitter())
		} else if delay > a.cfg.MaxRetryDelay {
			return nil, attempt, unavailable("quota exhausted: the server asks to retry after %s, more than %s",
				delay.Round(time.Second), a.cfg.MaxRetryDelay)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return nil, attempt, err
		}
		if err := a.wait(ctx, delay); err != nil {
			return nil, attempt, err
		}
	}
}

// generateConfig returns a new request config: the SDK modifies the one it
// is given, so it is never shared between calls.
func (a *Analyzer) generateConfig() *genai.GenerateContentConfig {
	temp := *a.cfg.Temperature
	return &genai.GenerateContentConfig{
		SystemInstruction:     &genai.Content{Parts: []*genai.Part{{Text: SystemInstruction}}},
		Temperature:           &temp,
		CandidateCount:        1,
		MaxOutputTokens:       a.cfg.MaxOutputTokens,
		ResponseMIMEType:      "application/json",
		ResponseSchema:        responseSchema(),
		AutomaticContinuation: genai.Ptr(false),
	}
}

// answerText returns the answer's text, or why there is none usable.
func answerText(resp *genai.GenerateContentResponse) (string, error) {
	if pf := resp.PromptFeedback; pf != nil && pf.BlockReason != "" {
		return "", unavailable("blocked prompt: %s", pf.BlockReason)
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0] == nil {
		return "", errEmpty
	}
	c := resp.Candidates[0]
	switch c.FinishReason {
	case "", genai.FinishReasonStop, genai.FinishReasonUnspecified:
	case genai.FinishReasonMaxTokens:
		return "", unavailable("answer truncated (MAX_TOKENS)")
	default:
		return "", unavailable("answer blocked: %s", c.FinishReason)
	}
	var sb strings.Builder
	if c.Content != nil {
		for _, p := range c.Content.Parts {
			if p != nil && !p.Thought {
				sb.WriteString(p.Text)
			}
		}
	}
	return sb.String(), nil
}

// cacheKey hashes what determines an answer: model, prompt version,
// temperature, output limit and the evidence (with its random marker
// replaced, so that the same run gives the same key).
func (a *Analyzer) cacheKey(ev Evidence) string {
	h := sha256.New()
	for _, s := range []string{a.cfg.Model, PromptVersion,
		strconv.FormatFloat(float64(*a.cfg.Temperature), 'g', -1, 32), strconv.Itoa(int(a.cfg.MaxOutputTokens))} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	js := string(ev.JSON())
	if ev.Marker != "" {
		js = strings.ReplaceAll(js, ev.Marker, "UNTRUSTED")
	}
	h.Write([]byte(js))
	return hex.EncodeToString(h.Sum(nil))
}
