package loadlens

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/loadlens/loadlens"

// layers says which of the module's packages each package may import,
// following ARCHITECTURE.md. A package belongs to the longest entry that is
// a prefix of its path; "*" allows everything. internal/ packages are
// leaves that anyone may use.
var layers = map[string][]string{
	"":            {},
	"metrics":     {},
	"target":      {},
	"scenarios":   {"metrics"},
	"loadtest":    {"scenarios", "metrics"},
	"js":          {"loadtest", "scenarios", "metrics"},
	"anomaly":     {"loadtest", "scenarios", "metrics"},
	"gemini":      {"anomaly", "loadtest", "scenarios", "metrics"},
	"report":      {"anomaly", "loadtest", "scenarios", "metrics"},
	"distributed": {"loadtest", "scenarios", "metrics"},
	"store":       {"anomaly", "loadtest", "scenarios", "metrics"},
	"service":     {"store", "report", "gemini", "anomaly", "js", "loadtest", "scenarios", "metrics", "target"},
	"cli":         {"*"},
	// The CLI's exit codes: a leaf under it that package cli and the
	// script runtime's ground-truth tests share (see testsMayImport).
	"cli/exitcode": {"js", "loadtest", "scenarios", "metrics"},
	// The evaluation's recorder drives real runs: target, engine, scripts.
	"anomaly/cmd":  {"*"},
	"cmd/loadlens": {"cli"},
	"examples":     {"*"},
	"bench":        {"*"},
}

// testsMayImport lets a layer's external tests (package x_test, not its
// code) import a package above it whose contract they check: js's
// ground-truth tests compare each run with the exit code k6 gave, and the
// map from a run's outcome to an exit code is the CLI's. A copy of that
// map in the tests drifted from the CLI's once (commit 428e454).
var testsMayImport = map[string][]string{"js": {"cli/exitcode"}}

func layerOf(rel string) (string, bool) {
	best, found := "", false
	for l := range layers {
		if l == "" {
			continue
		}
		if (rel == l || strings.HasPrefix(rel, l+"/")) && len(l) > len(best) {
			best, found = l, true
		}
	}
	if rel == "" {
		return "", true
	}
	return best, found
}

func TestDependenciesPointDown(t *testing.T) {
	t.Parallel()
	statGoFiles(t)
	out, err := exec.Command("go", "list", "-f",
		`{{.ImportPath}}|{{join .Imports ","}}|{{join .TestImports ","}}|{{join .XTestImports ","}}`, module+"/...").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Split(line, "|")
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		if strings.HasPrefix(pkg, "internal/") {
			pkg = "internal" // leaves; checked below like everyone else
		}
		layer, ok := layerOf(pkg)
		if pkg == "internal" {
			layer, ok = "", true
		}
		if !ok {
			t.Errorf("package %s is not in the layer table of arch_test.go: add it where ARCHITECTURE.md puts it", fields[0])
			continue
		}
		xtest := strings.Split(fields[3], ",")
		for _, imp := range strings.Split(strings.Join(fields[1:], ","), ",") {
			dep, ours := strings.CutPrefix(imp, module+"/")
			if !ours || strings.HasPrefix(dep, "internal/") || dep == strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/") {
				continue
			}
			depLayer, _ := layerOf(dep)
			allowed := layers[layer]
			if depLayer == layer || slices.Contains(allowed, "*") || slices.Contains(allowed, depLayer) {
				continue
			}
			if slices.Contains(xtest, imp) && slices.Contains(testsMayImport[layer], depLayer) &&
				!slices.Contains(strings.Split(fields[1]+","+fields[2], ","), imp) {
				continue
			}
			t.Errorf("%s imports %s: %q may import only %v (ARCHITECTURE.md)", fields[0], imp, layer, allowed)
		}
	}
}

func TestLayerOf(t *testing.T) {
	t.Parallel()
	for rel, want := range map[string]string{"loadtest": "loadtest", "loadtest/lttest": "loadtest", "cmd/loadlens": "cmd/loadlens", "cli": "cli", "cli/exitcode": "cli/exitcode", "metrics": "metrics"} {
		got, ok := layerOf(rel)
		require.True(t, ok, rel)
		require.Equal(t, want, got, rel)
	}
	_, ok := layerOf("mystery")
	require.False(t, ok)
}

// statGoFiles touches every Go file so that the test cache, which cannot see
// what "go list" reads, reruns this test when imports change.
func statGoFiles(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		_, err = os.Stat(path)
		return err
	})
	require.NoError(t, err)
}
