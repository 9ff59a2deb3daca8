package redact_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/internal/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "http://127.0.0.1:8080/api?page=2", "http://127.0.0.1:8080/api?page=2"},
		{"password", "postgres://u:pw@h/db", "postgres://u:%5BREDACTED%5D@h/db"},
		{"user only", "https://ann@example.com/", "https://ann@example.com/"},
		{"unparseable password", "http://ann:s3 cret@h/x", "http://ann:%5BREDACTED%5D@h/x"},
		{"at in password", "http://ann:p@ss@h/x?q=1", "http://ann:%5BREDACTED%5D@h/x?q=1"},
		{"query token", "http://h/x?access_token=abc&page=2", "http://h/x?access_token=[REDACTED]&page=2"},
		{"escaped name", "http://h/x?api%5Fkey=abc", "http://h/x?api%5Fkey=[REDACTED]"},
		{"fragment", "http://h/cb#access_token=abc&state=1", "http://h/cb#access_token=[REDACTED]&state=1"},
		{"path only", "/login?password=hunter2", "/login?password=[REDACTED]"},
		{"no query value", "/x?token", "/x?token"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, redact.URL(tc.in))
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"bearer", "Authorization: Bearer abcdefghijkl", "Authorization: Bearer [REDACTED]"},
		{"key value", `password=hunter2 and user=ann`, `password=[REDACTED] and user=ann`},
		{"json pair", `{"api_key": "k-123"}`, `{"api_key": "[REDACTED]"}`},
		{"url in text", "GET http://u:pw@h/x failed", "GET http://u:%5BREDACTED%5D@h/x failed"},
		{"jwt", "sent eyJhbGciOi.eyJzdWIiOiIx.sig to the target", "sent [REDACTED] to the target"},
		{"google key", "key AIzaSyA1234567890abcdef", "key [REDACTED]"},
		{"ordinary", "p95 rose from 20 ms to 214 ms on /api/products", "p95 rose from 20 ms to 214 ms on /api/products"},
		{"idempotent", "token=[REDACTED]", "token=[REDACTED]"},
		{"session pair", "session_id=3f2a9c&sort=asc", "session_id=[REDACTED]&sort=asc"},
		{"query in text", "https://u:p@host/x?api_key=abc123&page=2", "https://u:%5BREDACTED%5D@host/x?api_key=[REDACTED]&page=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, redact.Text(tc.in))
		})
	}
}

func TestName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Authorization": true, "X-API-Key": true, "GEMINI_API_KEY": true, "DB_PASSWORD": true, "Cookie": true,
		"client_secret": true, "DSN": true, "DATABASE_DSN": true, "x-amz-signature": true, "sig": true, "key": true, "x-goog-api-key": true,
		"Content-Type": false, "PATH": false, "HOME": false, "design": false, "page": false, "BASE_URL": false, "keyboard": false, "monkey": false,
	} {
		assert.Equal(t, want, redact.Name(name), name)
	}
}

func TestMapAndValue(t *testing.T) {
	t.Parallel()
	got := redact.Map(map[string]string{"TOKEN": "t", "DB": "postgres://u:pw@h/db", "MODE": "fast", "EMPTY_SECRET": ""})
	assert.Equal(t, map[string]string{"TOKEN": redact.Placeholder, "DB": "postgres://u:%5BREDACTED%5D@h/db",
		"MODE": "fast", "EMPTY_SECRET": ""}, got)
	assert.Nil(t, redact.Map(nil))
}

func TestBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"json", `{"username": "ann", "password": "demo"}`, `{"password":"[REDACTED]","username":"ann"}`},
		{"nested json", `{"user": {"pin": 1234, "api_key": "x"}}`, `{"user":{"api_key":"[REDACTED]","pin":1234}}`},
		{"numeric password", `{"password": 123456}`, `{"password":"[REDACTED]"}`},
		{"form", "username=ann&password=demo", "username=ann&password=[REDACTED]"},
		{"text", "hello token abcdefghijklmnop", "hello token [REDACTED]"},
		{"broken json", `{"password": "demo"`, `{"password": "[REDACTED]"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, redact.Body(tc.in))
		})
	}
}

func TestJSONRedactsBodiesInsideSpecs(t *testing.T) {
	t.Parallel()
	var spec any
	require.NoError(t, json.Unmarshal([]byte(`{"target": {"base_url": "http://u:pw@127.0.0.1", "auth_token": "t0k",
		"endpoints": [{"path": "/login?access_token=abc", "body": "{\"password\": \"demo\"}"}]}, "env": {"SECRET": "s"}}`), &spec))
	b, err := json.Marshal(redact.JSON(spec))
	require.NoError(t, err)
	for _, secret := range []string{"pw@", "t0k", "abc", "demo", `"s"`} {
		assert.NotContains(t, string(b), secret)
	}
	assert.Contains(t, string(b), "127.0.0.1")
}

// FuzzURL checks that URL never panics, is idempotent, hides passwords and
// keeps a URL that parses parseable.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"http://u:p@h/x?token=1", "http://ann:s3 cret@h", "://@", "?=&=", "#a=b", "x://a@b@c:d@e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := redact.URL(s)
		assert.Equal(t, once, redact.URL(once), "redacting twice changes %q", s)
		if strings.Contains(s, "://u:secretpw@") {
			assert.NotContains(t, once, "secretpw")
		}
		if u, err := url.Parse(s); err == nil {
			r, err := url.Parse(once)
			require.NoError(t, err, "%q redacted to %q", s, once)
			if _, has := u.User.Password(); has && u.User.Username() == r.User.Username() {
				pw, _ := r.User.Password()
				assert.Equal(t, redact.Placeholder, pw)
			}
		}
	})
}
