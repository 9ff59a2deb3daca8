package gemini

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/loadlens/loadlens/internal/redact"
)

// DefaultModel is the model used when Config.Model is empty.
const DefaultModel = "gemini-2.5-flash"

// Defaults of Config's zero fields.
const (
	DefaultTimeout         = 2 * time.Minute
	DefaultMaxAttempts     = 3
	DefaultMaxRetryDelay   = 30 * time.Second
	DefaultTemperature     = 0.2
	DefaultMaxOutputTokens = 8192
	DefaultCacheSize       = 256
)

// Config configures an [Analyzer]. It is plain data; the zero value of each
// field is its documented default, and the zero Config is valid: it makes an
// Analyzer whose every analysis is "unavailable: no API key".
type Config struct {
	// APIKey authenticates with the Gemini API (x-goog-api-key). It is a
	// secret: never logged, never in an analysis, never serialised.
	APIKey string `json:"-"`
	// Vertex selects Vertex AI instead of the Gemini API when its Project
	// is set; APIKey is then not used: authentication comes from
	// HTTPClient when it is set, else from Google's Application Default
	// Credentials.
	Vertex Vertex `json:"vertex,omitzero"`
	// Model names the model; default [DefaultModel].
	Model string `json:"model,omitempty"`
	// BaseURL overrides the API endpoint (a proxy, or a fake server in
	// tests); default the backend's public endpoint.
	BaseURL string `json:"base_url,omitempty"`
	// Timeout bounds one Analyze call, retries and waits included; default
	// [DefaultTimeout]. The caller's context may end it sooner.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxAttempts bounds the calls per analysis, the first included:
	// failures with status 408, 429 or 5xx and transport errors are retried
	// until then; default [DefaultMaxAttempts]. 1 means no retry.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// MaxRetryDelay is the longest wait between attempts: a 429 whose
	// google.rpc.RetryInfo asks for longer gives up ("quota exhausted");
	// default [DefaultMaxRetryDelay].
	MaxRetryDelay time.Duration `json:"max_retry_delay,omitempty"`
	// Temperature of the model; nil means [DefaultTemperature] (low: the
	// analysis should be repeatable).
	Temperature *float32 `json:"temperature,omitempty"`
	// MaxOutputTokens bounds the answer (thinking included on models that
	// think); default [DefaultMaxOutputTokens]. An answer cut by it is
	// "unavailable: answer truncated".
	MaxOutputTokens int32 `json:"max_output_tokens,omitempty"`
	// Budget caps the evidence pack sent to the model.
	Budget Budget `json:"budget,omitzero"`
	// HTTPClient sends the requests; default a new http.Client. With Vertex
	// AI it must add credentials itself when it is set.
	HTTPClient *http.Client `json:"-"`
	// Logger receives one debug line per attempt and a warning per failed
	// analysis; nil discards. It never receives the key.
	Logger *slog.Logger `json:"-"`
	// Cache keeps analyses by a hash of model, prompt version, temperature
	// and evidence; nil means an in-memory cache of [DefaultCacheSize]
	// analyses owned by the Analyzer. Use [NoCache] to switch it off.
	Cache Cache `json:"-"`
}

// Vertex selects Vertex AI: a Google Cloud project and location.
type Vertex struct {
	// Project is the Google Cloud project ID.
	Project string `json:"project,omitempty"`
	// Location is the region, such as "us-central1"; default "global".
	Location string `json:"location,omitempty"`
}

// ConfigFromEnv reads a Config from the environment through getenv (the
// CLI passes os.Getenv; this package never reads the environment itself):
//
//   - GOOGLE_API_KEY, else GEMINI_API_KEY: APIKey (GOOGLE_API_KEY wins, as
//     in Google's SDKs);
//   - GOOGLE_CLOUD_PROJECT with GOOGLE_GENAI_USE_VERTEXAI=true, or without
//     any API key: Vertex.Project (and no APIKey); VERTEX_AI_LOCATION, else
//     GOOGLE_CLOUD_LOCATION: Vertex.Location;
//   - GEMINI_MODEL: Model; GEMINI_BASE_URL: BaseURL; GEMINI_TIMEOUT (a Go
//     duration such as "90s"): Timeout.
//
// Values that do not parse are ignored (the default applies).
func ConfigFromEnv(getenv func(string) string) Config {
	var c Config
	c.APIKey = strings.TrimSpace(getenv("GOOGLE_API_KEY"))
	if c.APIKey == "" {
		c.APIKey = strings.TrimSpace(getenv("GEMINI_API_KEY"))
	}
	useVertex, _ := strconv.ParseBool(getenv("GOOGLE_GENAI_USE_VERTEXAI"))
	if project := getenv("GOOGLE_CLOUD_PROJECT"); project != "" && (useVertex || c.APIKey == "") {
		c.APIKey = ""
		c.Vertex.Project = project
		c.Vertex.Location = getenv("VERTEX_AI_LOCATION")
		if c.Vertex.Location == "" {
			c.Vertex.Location = getenv("GOOGLE_CLOUD_LOCATION")
		}
	}
	c.Model = getenv("GEMINI_MODEL")
	c.BaseURL = getenv("GEMINI_BASE_URL")
	if d, err := time.ParseDuration(getenv("GEMINI_TIMEOUT")); err == nil && d > 0 {
		c.Timeout = d
	}
	return c
}

// Validate reports every contradiction or impossible value of c at once,
// each naming its field. A missing API key is not one: it makes every
// analysis unavailable.
func (c Config) Validate() error {
	var errs []error
	if c.Vertex.Project == "" && c.Vertex.Location != "" {
		errs = append(errs, errors.New("vertex.location: set without vertex.project"))
	}
	if c.BaseURL != "" {
		if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url: must be an absolute http(s) URL, got %q", redact.URL(c.BaseURL)))
		}
	}
	if strings.ContainsAny(c.Model, "/?# ") && !strings.HasPrefix(c.Model, "models/") {
		errs = append(errs, fmt.Errorf("model: must be a model name such as %q, got %q", DefaultModel, c.Model))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout: must be >= 0, got %s", c.Timeout))
	}
	if c.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("max_attempts: must be >= 0, got %d", c.MaxAttempts))
	}
	if c.MaxRetryDelay < 0 {
		errs = append(errs, fmt.Errorf("max_retry_delay: must be >= 0, got %s", c.MaxRetryDelay))
	}
	if c.Temperature != nil && (*c.Temperature < 0 || *c.Temperature > 2) {
		errs = append(errs, fmt.Errorf("temperature: must be in [0, 2], got %g", *c.Temperature))
	}
	if c.MaxOutputTokens < 0 {
		errs = append(errs, fmt.Errorf("max_output_tokens: must be >= 0, got %d", c.MaxOutputTokens))
	}
	if err := c.Budget.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.Model = strings.TrimPrefix(c.Model, "models/")
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if c.Temperature == nil {
		t := float32(DefaultTemperature)
		c.Temperature = &t
	}
	if c.MaxOutputTokens == 0 {
		c.MaxOutputTokens = DefaultMaxOutputTokens
	}
	if c.Vertex.Project != "" && c.Vertex.Location == "" {
		c.Vertex.Location = "global"
	}
	c.Budget = c.Budget.withDefaults()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Cache == nil {
		c.Cache = NewMemoryCache(DefaultCacheSize)
	}
	return c
}
