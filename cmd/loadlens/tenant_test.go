package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	assert.Equal(t, 2, runCLI(t, "tenant", "remove", "team-a", "--db", db).code)
}
