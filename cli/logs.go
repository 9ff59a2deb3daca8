package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// runLogger makes the logger of run and demo from k6's logging flags:
// -v (debug), --log-output (stderr, stdout, none, file=PATH), --log-format
// (newLogHandler's) and --console-output (the script's console to a file).
// The closer closes the files it opened.
func (a *app) runLogger(f *runFlags) (*slog.Logger, io.Closer, error) {
	var files closers
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	if f.quietLogs {
		level = slog.LevelWarn
	}
	out, err := a.logWriter(f.logOutput, &files)
	if err != nil {
		return nil, files, err
	}
	h := newLogHandler(out, f.logFormat, level)
	if f.consoleOutput != "" {
		file, err := os.Create(f.consoleOutput)
		if err != nil {
			return nil, files, errors.Join(fmt.Errorf("--console-output: %w", err), files.Close())
		}
		files = append(files, file)
		h = consoleRouter{logs: h, console: newLogHandler(file, f.logFormat, level)}
	}
	return slog.New(h), files, nil
}

// logWriter opens --log-output.
func (a *app) logWriter(spec string, files *closers) (io.Writer, error) {
	kind, path, _ := strings.Cut(spec, "=")
	switch kind {
	case "", "stderr":
		return a.stderr, nil
	case "stdout":
		return a.stdout, nil
	case "none":
		return io.Discard, nil
	case "file":
		if path == "" {
			path = "./loadlens.log"
		}
		file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--log-output: %w", err)
		}
		*files = append(*files, file)
		return file, nil
	}
	return nil, fmt.Errorf("--log-output %q: want stderr, stdout, none or file=PATH", spec)
}

// consoleRouter sends the script's console output (source=console) to its
// own handler, the rest to logs.
type consoleRouter struct{ logs, console slog.Handler }

func (h consoleRouter) Enabled(ctx context.Context, l slog.Level) bool {
	return h.logs.Enabled(ctx, l) || h.console.Enabled(ctx, l)
}

func (h consoleRouter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return consoleRouter{logs: h.logs.WithAttrs(attrs), console: h.console.WithAttrs(attrs)}
}

func (h consoleRouter) WithGroup(name string) slog.Handler {
	return consoleRouter{logs: h.logs.WithGroup(name), console: h.console.WithGroup(name)}
}

func (h consoleRouter) Handle(ctx context.Context, r slog.Record) error {
	console := false
	r.Attrs(func(a slog.Attr) bool {
		console = a.Key == "source" && a.Value.String() == "console"
		return !console
	})
	if console {
		return h.console.Handle(ctx, r)
	}
	return h.logs.Handle(ctx, r)
}

// closers closes files in order, keeping every error.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
