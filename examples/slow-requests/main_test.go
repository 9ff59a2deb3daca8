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

// Every printed request took longer than the limit, and each request to
// the slow page (50 ms) is printed: half of all requests, as each
// iteration requests both pages. A request to the home page is printed
// only if the machine made it slow.
func TestSlowRequests(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, 40*time.Millisecond, time.Second))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.GreaterOrEqual(t, len(lines), 2, out.String())
	m := regexp.MustCompile(`^(\d+) of (\d+) requests took longer than 40ms$`).FindStringSubmatch(lines[len(lines)-1])
	require.NotNil(t, m, lines[len(lines)-1])
	printed, _ := strconv.Atoi(m[1])
	total, _ := strconv.Atoi(m[2])
	assert.Equal(t, len(lines)-1, printed)
	row := regexp.MustCompile(`^\s*[\d.]+m?s  (slow page|home)\s+200  (\d+\.\d) ms$`)
	slowPage := 0
	for _, l := range lines[:len(lines)-1] {
		m := row.FindStringSubmatch(l)
		require.NotNil(t, m, "%q", l)
		ms, _ := strconv.ParseFloat(m[2], 64)
		assert.Greater(t, ms, 40.0, l)
		if m[1] == "slow page" {
			slowPage++
		}
	}
	assert.InDelta(t, total/2, slowPage, 4, "one slow page per iteration; an iteration cut at the end may leave a few unpaired")
}
