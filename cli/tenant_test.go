package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/store"
)

type tenantLine struct {
	ID     string `json:"id"`
	Limits struct {
		MaxVUs        int64    `json:"max_vus"`
		MaxDuration   string   `json:"max_duration"`
		MaxConcurrent int      `json:"max_concurrent"`
		AllowedHosts  []string `json:"allowed_hosts"`
	} `json:"limits"`
}

func tenantLines(t *testing.T, stdout string) []tenantLine {
	t.Helper()
	var out []tenantLine
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var tl tenantLine
		require.NoError(t, json.Unmarshal([]byte(l), &tl), l)
		out = append(out, tl)
	}
	return out
}

func TestTenantCommands(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "agent.db")

	r := runCLI(t, "tenant", "add", "team-a", "--db", db, "--max-vus", "50", "--allow-host", "10.0.0.0/8", "--allow-host", "api.internal")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^llk_\S+\n$`, r.stdout, "the key alone on stdout")
	require.Equal(t, 0, runCLI(t, "tenant", "add", "team-b", "--db", db).code)

	r = runCLI(t, "tenant", "limits", "team-a", "--db", db, "--max-duration", "30m", "--max-concurrent", "2")
	require.Equal(t, 0, r.code, r.stderr)
	a := tenantLines(t, r.stdout)[0]
	assert.Equal(t, "team-a", a.ID)
	assert.EqualValues(t, 50, a.Limits.MaxVUs, "a limit not given is kept")
	assert.Equal(t, "30m0s", a.Limits.MaxDuration)
	assert.Equal(t, 2, a.Limits.MaxConcurrent)
	assert.Equal(t, []string{"10.0.0.0/8", "api.internal"}, a.Limits.AllowedHosts)

	r = runCLI(t, "tenant", "key", "team-b", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `^llk_\S+\n$`, r.stdout)

	r = runCLI(t, "tenant", "list", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	all := tenantLines(t, r.stdout)
	require.Len(t, all, 2)
	assert.Equal(t, "team-b", all[1].ID)
	assert.Zero(t, all[1].Limits.MaxVUs, "the agent's defaults")

	r = runCLI(t, "tenant", "add", "team-c", "--db", db, "--max-vus", "-1", "--max-concurrent", "-2")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "max_vus: must be >= 0, got -1")
	assert.Contains(t, r.stderr, "max_concurrent: must be >= 0, got -2")
	assert.Len(t, tenantLines(t, runCLI(t, "tenant", "list", "--db", db).stdout), 2, "a bad limit creates no tenant")

	assert.Equal(t, 255, runCLI(t, "tenant", "limits", "nobody", "--db", db).code)
	r = runCLI(t, "tenant", "list", "--db", db+".typo")
	assert.Equal(t, 255, r.code)
	assert.Contains(t, r.stderr, "no such file")
	r = runCLI(t, "tenant", "limits", "team-a", "--db", db, "--allow-host", "bad/99")
	assert.Equal(t, 255, r.code)
	assert.Contains(t, r.stderr, `allowed_hosts[0]: "bad/99" is not a host name, IP address or CIDR prefix`)
	assert.Equal(t, 2, runCLI(t, "tenant", "key", "team-a", "--max-vus", "3", "--db", db).code, "limits go with add or limits")
}

// A leaked key is revoked by its id or by the key itself; a removed tenant's
// keys stop working and it leaves the list.
func TestTenantKeyRevokeAndRemove(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "agent.db")
	r := runCLI(t, "tenant", "add", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	first := strings.TrimSpace(r.stdout)
	r = runCLI(t, "tenant", "key", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	second := strings.TrimSpace(r.stdout)

	r = runCLI(t, "tenant", "key", "revoke", "team-a", first, "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	r = runCLI(t, "tenant", "keys", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NotContains(t, r.stdout, "llk_", "keys are listed by id, never the key")
	var keys []store.Key
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var k store.Key
		require.NoError(t, json.Unmarshal([]byte(l), &k), l)
		keys = append(keys, k)
	}
	require.Len(t, keys, 2)
	assert.False(t, keys[0].Revoked.IsZero())
	assert.True(t, keys[1].Revoked.IsZero())
	r = runCLI(t, "tenant", "key", "revoke", "team-a", store.KeyID(second), "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	r = runCLI(t, "tenant", "key", "revoke", "team-a", store.KeyID(second), "--db", db)
	assert.Equal(t, 255, r.code, "already revoked")

	require.Equal(t, 0, runCLI(t, "tenant", "remove", "team-a", "--db", db).code)
	assert.Empty(t, strings.TrimSpace(runCLI(t, "tenant", "list", "--db", db).stdout))
	r = runCLI(t, "tenant", "remove", "team-a", "--db", db)
	assert.Equal(t, 255, r.code)
	assert.Contains(t, r.stderr, "not found")
}

type webhookLine struct {
	Tenant string   `json:"tenant"`
	URL    string   `json:"url"`
	Format string   `json:"format"`
	Events []string `json:"events"`
}

func webhookLines(t *testing.T, stdout string) []webhookLine {
	t.Helper()
	var out []webhookLine
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if l == "" {
			continue
		}
		var wl webhookLine
		require.NoError(t, json.Unmarshal([]byte(l), &wl), l)
		out = append(out, wl)
	}
	return out
}

func TestTenantWebhookCommands(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "agent.db")
	require.Equal(t, 0, runCLI(t, "tenant", "add", "team-a", "--db", db).code)
	require.Equal(t, 0, runCLI(t, "tenant", "add", "team-b", "--db", db).code)
	const slackURL, plainURL = "https://hooks.slack.example/T0/B0/x", "http://127.0.0.1:9999/alerts"

	r := runCLI(t, "tenant", "webhook", "add", "team-a", slackURL, "--format", "slack", "--event", "failed", "--event", "high_findings", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []webhookLine{{"team-a", slackURL, "slack", []string{"failed", "high_findings"}}}, webhookLines(t, r.stdout), "add prints what it stored")
	r = runCLI(t, "tenant", "--db", db, "webhook", "add", "team-a", plainURL)
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 0, runCLI(t, "tenant", "webhook", "add", "team-b", plainURL, "--db", db).code)

	r = runCLI(t, "tenant", "webhook", "list", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []webhookLine{
		{"team-a", slackURL, "slack", []string{"failed", "high_findings"}},
		{"team-a", plainURL, "json", nil},
	}, webhookLines(t, r.stdout), "in the order added; no events: every event")

	r = runCLI(t, "tenant", "webhook", "remove", "team-a", slackURL, "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	assert.Equal(t, []webhookLine{{"team-a", plainURL, "json", nil}}, webhookLines(t, runCLI(t, "tenant", "webhook", "list", "team-a", "--db", db).stdout))
	assert.Equal(t, []webhookLine{{"team-b", plainURL, "json", nil}}, webhookLines(t, runCLI(t, "tenant", "webhook", "list", "team-b", "--db", db).stdout),
		"another tenant's are its own")
	require.Equal(t, 0, runCLI(t, "tenant", "webhook", "remove", "team-a", plainURL, "--db", db).code)
	r = runCLI(t, "tenant", "webhook", "list", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout)

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"invalid", []string{"webhook", "add", "team-a", "ftp://x", "--format", "xml", "--event", "bogus"}, 2,
			[]string{`url: want an http:// or https:// URL, got "ftp://x"`, `format: want json or slack, got "xml"`, `events[0]: unknown "bogus"`}},
		{"twice", []string{"webhook", "add", "team-b", plainURL}, 255, []string{"already exists"}},
		{"no such tenant", []string{"webhook", "add", "nobody", plainURL}, 255, []string{`tenant "nobody": not found`}},
		{"list no such tenant", []string{"webhook", "list", "nobody"}, 255, []string{"not found"}},
		{"remove missing", []string{"webhook", "remove", "team-b", slackURL}, 255, []string{"not found"}},
		{"no URL", []string{"webhook", "add", "team-a"}, 2, []string{"Usage"}},
		{"no subcommand", []string{"webhook", "team-a"}, 2, []string{"Usage"}},
		{"format without webhook add", []string{"webhook", "list", "team-a", "--format", "slack"}, 2, []string{"go with webhook add"}},
		{"event with limits", []string{"limits", "team-a", "--event", "failed"}, 2, []string{"go with webhook add"}},
		{"limits with webhook add", []string{"webhook", "add", "team-a", plainURL, "--max-vus", "3"}, 2, []string{"go with add or limits"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, append(append([]string{"tenant"}, tc.args...), "--db", db)...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			for _, s := range tc.stderr {
				assert.Contains(t, r.stderr, s)
			}
		})
	}
}

// Two agents never serve one database: the second refuses to start.
func TestServeRefusesADatabaseInUse(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "agent.db")
	first, err := store.OpenWith(t.Context(), db, store.Options{Exclusive: true})
	require.NoError(t, err)
	defer first.Close()
	r := runCLI(t, "serve", "--db", db, "--addr", "127.0.0.1:0")
	assert.Equal(t, 255, r.code)
	assert.Contains(t, r.stderr, "database in use by another process")
}
