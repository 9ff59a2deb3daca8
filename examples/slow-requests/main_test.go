package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Every line names the slow page, and there is one per request to it: each
// iteration requests both pages, so the slow ones are half of all requests.
func TestSlowRequests(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, 40*time.Millisecond, time.Second))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 2, out.String())
	m := regexp.MustCompile(`^(\d+) of (\d+) requests took longer than 40ms$`).FindStringSubmatch(lines[len(lines)-1])
	require.NotNil(t, m, lines[len(lines)-1])
	slow, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	assert.Equal(t, len(lines)-1, slow)
	assert.InDelta(t, total/2, slow, 4, "one slow page per iteration; interrupted iterations may leave a few unpaired")
	row := regexp.MustCompile(`^\s*[\d.]+m?s  slow page\s+200  (\d+\.\d) ms$`)
	for _, l := range lines[:len(lines)-1] {
		m := row.FindStringSubmatch(l)
		require.NotNil(t, m, "%q", l)
		ms, _ := strconv.ParseFloat(m[1], 64)
		assert.Greater(t, ms, 40.0)
	}
}
