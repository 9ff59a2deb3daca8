package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/service"
)

func TestTenantScheduleCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "agent.db")
	require.Equal(t, 0, runCLI(t, "tenant", "add", "team-a", "--db", db).code)
	file := filepath.Join(dir, "nightly.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Paris",
		"test": {"test_type": "smoke", "target": {"base_url": "http://127.0.0.1:9", "endpoints": ["/"], "auth_token": "s3cret-tok"}}}`), 0o600))

	r := runCLI(t, "tenant", "schedule", "add", "team-a", file, "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	var sc service.ScheduleInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sc), r.stdout)
	assert.Equal(t, "nightly", sc.Name)
	assert.True(t, sc.Enabled)
	assert.NotContains(t, r.stdout, "s3cret-tok")
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	assert.Equal(t, 2, sc.NextSlot.In(paris).Hour())

	r = runCLI(t, "tenant", "schedule", "disable", "team-a", sc.ID, "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"enabled":false`)
	r = runCLI(t, "tenant", "schedule", "list", "team-a", "--db", db)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 1)
	require.Equal(t, 0, runCLI(t, "tenant", "schedule", "remove", "team-a", sc.ID, "--db", db).code)
	r = runCLI(t, "tenant", "schedule", "list", "team-a", "--db", db)
	assert.Empty(t, r.stdout)
	assert.Equal(t, 255, runCLI(t, "tenant", "schedule", "remove", "team-a", sc.ID, "--db", db).code)

	// A bad file names every problem; a missing tenant is an error.
	require.NoError(t, os.WriteFile(file, []byte(`{"cron": "99 * * * *", "missed": "never"}`), 0o600))
	r = runCLI(t, "tenant", "schedule", "add", "team-a", file, "--db", db)
	assert.Equal(t, exitInvalidConfig, r.code)
	for _, want := range []string{"name:", "cron:", "missed:", "test: required"} {
		assert.Contains(t, r.stderr, want)
	}
	assert.Equal(t, 255, runCLI(t, "tenant", "schedule", "list", "nobody", "--db", db).code)
	assert.Equal(t, 2, runCLI(t, "tenant", "schedule", "add", "team-a", "--db", db).code)
}
