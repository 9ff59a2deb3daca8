package js

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/grafana/sobek"
)

// SecretSource answers k6/secrets' get(key) for one source. It may be
// called from several VUs at once.
type SecretSource interface {
	Secret(ctx context.Context, key string) (string, error)
}

// ErrNoSecret is what a SecretSource returns for a key it does not have.
var ErrNoSecret = errors.New("no value")

// Secrets are the sources k6/secrets reads, as k6's --secret-source flags
// give them: secrets.get(key) asks the default source,
// secrets.source(name).get(key) a named one.
type Secrets struct {
	// Sources by name.
	Sources map[string]SecretSource
	// Default names the source of secrets.get; "" means the only source
	// when there is one, as in k6.
	Default string
}

// SecretMap is a SecretSource of fixed values: k6's mock and file sources.
type SecretMap map[string]string

// Secret implements SecretSource.
func (m SecretMap) Secret(_ context.Context, key string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", ErrNoSecret
	}
	return v, nil
}

// ParseSecretSource reads one --secret-source value as k6 does:
// "file=PATH", "file=name=N,filename=PATH[,default]" (KEY=VALUE lines;
// readFile reads PATH) or "mock=K=V,...[,name=N][,default]". It returns
// the source's name ("default" when none is given) and whether it was
// marked as the default.
func ParseSecretSource(spec string, readFile func(string) ([]byte, error)) (name string, src SecretSource, isDefault bool, err error) {
	kind, config, _ := strings.Cut(spec, "=")
	if kind != "file" && kind != "mock" {
		return "", nil, false, fmt.Errorf("--secret-source %q: no secret source of type %q (loadlens has file and mock)", spec, kind)
	}
	name = "default"
	kv := map[string]string{}
	var order []string
	for _, part := range strings.Split(config, ",") {
		if part == "" {
			continue
		}
		if part == "default" {
			isDefault = true
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			if kind == "file" && len(kv) == 0 && len(order) == 0 {
				kv["filename"] = part
				continue
			}
			return "", nil, false, fmt.Errorf("--secret-source %q: %q is not KEY=VALUE", spec, part)
		}
		kv[k] = v
		order = append(order, k)
	}
	if n, ok := kv["name"]; ok {
		name = n
		delete(kv, "name")
	}
	if kind == "file" {
		path := kv["filename"]
		if path == "" {
			return "", nil, false, fmt.Errorf("--secret-source %q: the file source needs a filename", spec)
		}
		b, err := readFile(path)
		if err != nil {
			return "", nil, false, fmt.Errorf("--secret-source %q: %w", spec, err)
		}
		m := SecretMap{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			k, v, ok := strings.Cut(text, "=")
			if !ok {
				return "", nil, false, fmt.Errorf("--secret-source %q: %s line %d: want KEY=VALUE", spec, path, line)
			}
			m[k] = v
		}
		return name, m, isDefault, nil
	}
	return name, SecretMap(kv), isDefault, nil // mock
}

// defaultSource returns the source secrets.get asks, or "".
func (s Secrets) defaultSource() string {
	if s.Default != "" {
		return s.Default
	}
	if len(s.Sources) == 1 {
		for name := range s.Sources {
			return name
		}
	}
	return "default"
}

// secretsModule is k6/secrets: get(key) and source(name).get(key), each a
// promise of the secret. Values a script gets are redacted from every log
// line from then on.
func secretsModule(vu *VU) (Exports, error) {
	get := func(source string) func(string) *sobek.Promise {
		return func(key string) *sobek.Promise {
			src, ok := vu.prog.opts.Secrets.Sources[source]
			if !ok {
				return vu.settled(nil, vu.rt.ToValue(fmt.Sprintf("no secret source with name %q is configured", source)))
			}
			v, err := src.Secret(vu.ctxOrBackground(), key)
			if err != nil {
				return vu.settled(nil, vu.rt.ToValue(err.Error()))
			}
			vu.prog.redactor.add(v)
			return vu.settled(v, nil)
		}
	}
	return Exports{Named: map[string]any{
		"get": get(vu.prog.opts.Secrets.defaultSource()),
		"source": func(name string) map[string]any {
			return map[string]any{"get": get(name)}
		},
	}}, nil
}

// secretRedacted replaces secret values in logs, as k6 does.
const secretRedacted = "***SECRET_REDACTED***"

// redactor is a log handler that replaces the secret values scripts got
// in messages and string attributes. It is safe for concurrent use.
type redactor struct {
	next slog.Handler
	vals *secretValues
}

type secretValues struct {
	mu sync.RWMutex
	r  *strings.Replacer
	vs []string
}

func (s *secretValues) add(v string) {
	if v == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.vs, v) {
		return
	}
	s.vs = append(s.vs, v)
	slices.SortFunc(s.vs, func(a, b string) int { return len(b) - len(a) }) // longest first
	pairs := make([]string, 0, 2*len(s.vs))
	for _, x := range s.vs {
		pairs = append(pairs, x, secretRedacted)
	}
	s.r = strings.NewReplacer(pairs...)
}

func (s *secretValues) redact(text string) string {
	s.mu.RLock()
	r := s.r
	s.mu.RUnlock()
	if r == nil {
		return text
	}
	return r.Replace(text)
}

func (h *redactor) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *redactor) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.vals.redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString {
			a.Value = slog.StringValue(h.vals.redact(a.Value.String()))
		}
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &redactor{next: h.next.WithAttrs(attrs), vals: h.vals}
}

func (h *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: h.next.WithGroup(name), vals: h.vals}
}
