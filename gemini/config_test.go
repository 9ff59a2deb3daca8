package gemini_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/gemini"
)

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want gemini.Config
	}{
		{"empty", nil, gemini.Config{}},
		{"gemini key", map[string]string{"GEMINI_API_KEY": " k1 "}, gemini.Config{APIKey: "k1"}},
		{"google key wins", map[string]string{"GEMINI_API_KEY": "k1", "GOOGLE_API_KEY": "k2"}, gemini.Config{APIKey: "k2"}},
		{"project without key is vertex", map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "VERTEX_AI_LOCATION": "us-east1",
			"GOOGLE_CLOUD_LOCATION": "ignored"}, gemini.Config{Vertex: gemini.Vertex{Project: "p", Location: "us-east1"}}},
		{"google cloud location", map[string]string{"GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_CLOUD_LOCATION": "eu"},
			gemini.Config{Vertex: gemini.Vertex{Project: "p", Location: "eu"}}},
		{"key and project: the key", map[string]string{"GEMINI_API_KEY": "k1", "GOOGLE_CLOUD_PROJECT": "p"}, gemini.Config{APIKey: "k1"}},
		{"vertex asked for", map[string]string{"GEMINI_API_KEY": "k1", "GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_GENAI_USE_VERTEXAI": "true"},
			gemini.Config{Vertex: gemini.Vertex{Project: "p"}}},
		{"model, base URL, timeout", map[string]string{"GEMINI_MODEL": "gemini-2.5-pro", "GEMINI_BASE_URL": "http://127.0.0.1:1/",
			"GEMINI_TIMEOUT": "45s"}, gemini.Config{Model: "gemini-2.5-pro", BaseURL: "http://127.0.0.1:1/", Timeout: 45 * time.Second}},
		{"bad timeout ignored", map[string]string{"GEMINI_TIMEOUT": "soon"}, gemini.Config{}},
	} {
		got := gemini.ConfigFromEnv(func(k string) string { return tc.env[k] })
		assert.Equal(t, tc.want, got, tc.name)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	neg := float32(-0.5)
	for _, tc := range []struct {
		name string
		cfg  gemini.Config
		want string // "" for valid
	}{
		{"zero", gemini.Config{}, ""},
		{"full", gemini.Config{APIKey: "k", Model: "models/gemini-2.5-pro", BaseURL: "https://proxy.example/",
			Timeout: time.Minute, MaxAttempts: 5}, ""},
		{"vertex", gemini.Config{Vertex: gemini.Vertex{Project: "p", Location: "global"}}, ""},
		{"location alone", gemini.Config{Vertex: gemini.Vertex{Location: "eu"}}, "vertex.location:"},
		{"relative base URL", gemini.Config{BaseURL: "/v1beta"}, "base_url:"},
		{"base URL credentials not echoed", gemini.Config{BaseURL: "gopher://user:s3cr3t@h/?key=s3cr3t"}, "base_url:"},
		{"model with a path", gemini.Config{Model: "a/b"}, "model:"},
		{"negative attempts", gemini.Config{MaxAttempts: -1}, "max_attempts:"},
		{"negative retry delay", gemini.Config{MaxRetryDelay: -time.Second}, "max_retry_delay:"},
		{"temperature", gemini.Config{Temperature: &neg}, "temperature:"},
		{"output tokens", gemini.Config{MaxOutputTokens: -1}, "max_output_tokens:"},
		{"budget", gemini.Config{Budget: gemini.Budget{Buckets: -1, MaxEndpoints: -2}}, "budget.buckets:"},
	} {
		err := tc.cfg.Validate()
		if tc.want == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		assert.NotContains(t, err.Error(), "s3cr3t", tc.name)
	}
}

func TestNewModelName(t *testing.T) {
	t.Parallel()
	an, err := gemini.New(context.Background(), gemini.Config{Model: "models/gemini-2.5-pro"})
	require.NoError(t, err)
	assert.Equal(t, "gemini-2.5-pro", an.Model())
}
