package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the example script in process.
func TestRun(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"script.js"}, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.Equal(t, "hello: 8 checks passed, 0 failed, hello_values max 2\n", stdout.String())
}

// TestBuild builds the custom binary with plain go build, as a user
// would, and runs the script with it, with a flag over the script's
// options.
func TestBuild(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "xk6-hello")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.CommandContext(t.Context(), bin, "-i", "6", "script.js")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Equal(t, "hello: 12 checks passed, 0 failed, hello_values max 6\n", stdout.String(), "-i 6: one VU, six iterations")

	bad := filepath.Join(t.TempDir(), "bad.js")
	require.NoError(t, os.WriteFile(bad, []byte("import nope from 'k6/x/nope';\nexport default function () {}\n"), 0o600))
	cmd = exec.CommandContext(t.Context(), bin, bad)
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 107, exit.ExitCode(), "an extension the binary lacks")
}
