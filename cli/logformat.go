package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// k6TextHandler writes log lines as k6 (logrus's text format) does:
//
//	time="2026-12-06T18:15:25Z" level=info msg="hello" source=console
//
// Levels are debug, info, warning and error; the attributes follow msg in
// key order, each quoted only when it holds more than letters, digits and
// -._/@^+. It is safe for concurrent use.
type k6TextHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Leveler
	attrs []slog.Attr
	group string // prefix of the keys, "" or "a.b."
}

func newK6TextHandler(w io.Writer, level slog.Leveler) *k6TextHandler {
	return &k6TextHandler{mu: &sync.Mutex{}, w: w, level: level}
}

func (h *k6TextHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *k6TextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = slices.Clip(c.attrs)
	for _, a := range attrs {
		c.attrs = append(c.attrs, slog.Attr{Key: h.group + a.Key, Value: a.Value})
	}
	return &c
}

func (h *k6TextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

func (h *k6TextHandler) Handle(_ context.Context, r slog.Record) error {
	fields := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		fields = appendAttr(fields, h.group, a)
		return true
	})
	slices.SortStableFunc(fields, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	var b strings.Builder
	b.WriteString("time=")
	writeLogValue(&b, r.Time.Format(time.RFC3339))
	b.WriteString(" level=")
	b.WriteString(k6Level(r.Level))
	b.WriteString(" msg=")
	writeLogValue(&b, r.Message)
	for _, f := range fields {
		b.WriteByte(' ')
		b.WriteString(f.Key)
		b.WriteByte('=')
		writeLogValue(&b, f.Value.Resolve().String())
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// appendAttr adds a, flattening groups into dotted keys.
func appendAttr(fields []slog.Attr, prefix string, a slog.Attr) []slog.Attr {
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			fields = appendAttr(fields, prefix, g)
		}
		return fields
	}
	if a.Equal(slog.Attr{}) {
		return fields
	}
	return append(fields, slog.Attr{Key: prefix + a.Key, Value: a.Value})
}

// k6Level is logrus's name of a level.
func k6Level(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "error"
	case l >= slog.LevelWarn:
		return "warning"
	case l >= slog.LevelInfo:
		return "info"
	}
	return "debug"
}

// writeLogValue writes s bare or, when it holds other characters than
// logrus leaves bare, Go-quoted.
func writeLogValue(b *strings.Builder, s string) {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._/@^+", c)) {
			fmt.Fprintf(b, "%q", s)
			return
		}
	}
	b.WriteString(s)
}

// rawHandler writes only each record's message, as k6's --log-format raw.
type rawHandler struct {
	*k6TextHandler
}

func (h rawHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, r.Message+"\n")
	return err
}

func (h rawHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h rawHandler) WithGroup(string) slog.Handler      { return h }

// Log formats of --log-format: k6's text (the default), k6's raw, and
// slog's JSON.
const (
	logFormatText = ""
	logFormatRaw  = "raw"
	logFormatJSON = "json"
)

// newLogHandler returns the handler of a --log-format.
func newLogHandler(w io.Writer, format string, level slog.Leveler) slog.Handler {
	switch format {
	case logFormatJSON:
		return slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	case logFormatRaw:
		return rawHandler{newK6TextHandler(w, level)}
	}
	return newK6TextHandler(w, level)
}
