package cli

import (
	"bytes"
	"log/slog"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestK6TextHandler holds the lines k6 v2.2.0 printed for console.log,
// console.warn and console.error and its own warnings.
func TestK6TextHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := newK6TextHandler(&buf, slog.LevelInfo)
	log := slog.New(h)
	log.Info("form: n=1&topping=onion&topping=bacon ua=Grafana k6/2.2.0", "source", "console")
	log.Warn("a warning", "source", "console")
	log.Error("an error", "source", "console")
	log.Debug("not shown", "source", "console")
	log.With("vu", 3).Warn("plain", "a", `q"uote`, "z", 1.5)
	want := `time="T" level=info msg="form: n=1&topping=onion&topping=bacon ua=Grafana k6/2.2.0" source=console
time="T" level=warning msg="a warning" source=console
time="T" level=error msg="an error" source=console
time="T" level=warning msg=plain a="q\"uote" vu=3 z=1.5
`
	stamp := regexp.MustCompile(`time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)"`)
	assert.Equal(t, want, stamp.ReplaceAllString(buf.String(), `time="T"`))
}

func TestLogFormats(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]string{logFormatRaw: "hello\n", logFormatJSON: `"msg":"hello","source":"console"`} {
		var buf bytes.Buffer
		slog.New(newLogHandler(&buf, format, slog.LevelInfo)).Info("hello", "source", "console")
		assert.Contains(t, buf.String(), want, format)
	}
	f := newRunFlags("run")
	require.NoError(t, f.fs.Parse([]string{"--user-agent", "", "--log-format", "yaml"}))
	o, err := f.overrides()
	require.ErrorContains(t, err, `--log-format "yaml"`)
	require.NotNil(t, o.Options.UserAgent, "--user-agent \"\" is k6's userAgent \"\": no header")
	assert.Empty(t, *o.Options.UserAgent)
}
