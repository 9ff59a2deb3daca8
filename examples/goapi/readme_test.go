package goapi_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README shows Example's code: every line of its Go block is a line of
// example_test.go, so the snippet compiles and runs.
func TestREADMESnippetIsTheExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	example, err := os.ReadFile("example_test.go")
	require.NoError(t, err)
	section := regexp.MustCompile("(?s)### As a Go package.*?```go\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, section, "the README's Go section has a go block")
	lines := map[string]bool{}
	for _, l := range strings.Split(string(example), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, l := range strings.Split(string(section[1]), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "// …" {
			assert.True(t, lines[l], "README line not in example_test.go: %s", l)
		}
	}
}
