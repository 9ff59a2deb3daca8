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

	"github.com/loadlens/loadlens/cli"
	"github.com/loadlens/loadlens/examples/xk6-hello/hello"
	"github.com/loadlens/loadlens/js"
)

func TestMain(m *testing.M) {
	// genai (linked through the CLI) depends on opencensus, which starts a worker at init.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// TestRun runs the example script in process through the whole CLI: the
// module's metric reaches the HTML report as it would with loadlens run.
func TestRun(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	html := filepath.Join(t.TempDir(), "report.html")
	code := cli.Main(t.Context(), []string{"run", "-q", "--report", html, "script.js"},
		cli.WithModules(map[string]js.Module{hello.ImportPath: hello.Module()}), cli.WithStdio(nil, &stdout, &stderr))
	assert.Equal(t, 0, code, stderr.String())
	assert.Equal(t, "hello: 8 checks passed, 0 failed, hello_values max 2\n", stdout.String())
	b, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.Contains(t, string(b), "hello_values")
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
	cmd := exec.CommandContext(t.Context(), bin, "run", "-q", "-i", "6", "script.js")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), stderr.String())
	assert.Equal(t, "hello: 12 checks passed, 0 failed, hello_values max 6\n", stdout.String(), "-i 6: one VU, six iterations")

	bad := filepath.Join(t.TempDir(), "bad.js")
	require.NoError(t, os.WriteFile(bad, []byte("import nope from 'k6/x/nope';\nexport default function () {}\n"), 0o600))
	cmd = exec.CommandContext(t.Context(), bin, "run", bad)
	err = cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 107, exit.ExitCode(), "an extension the binary lacks")

	help, err := exec.CommandContext(t.Context(), bin, "help").Output()
	require.NoError(t, err)
	assert.Contains(t, string(help), "serve", "the whole CLI, not a mini one")
}
