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
	// The evaluation's recorder drives real runs: target, engine, scripts.
	"anomaly/cmd":  {"*"},
	"cmd/loadlens": {"cli"},
	"examples":     {"*"},
	"bench":        {"*"},
}

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
			t.Errorf("%s imports %s: %q may import only %v (ARCHITECTURE.md)", fields[0], imp, layer, allowed)
		}
	}
}

func TestLayerOf(t *testing.T) {
	t.Parallel()
	for rel, want := range map[string]string{"loadtest": "loadtest", "loadtest/lttest": "loadtest", "cmd/loadlens": "cmd/loadlens", "cli": "cli", "metrics": "metrics"} {
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
