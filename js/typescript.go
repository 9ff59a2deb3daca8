package js

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/grafana/sobek/parser"
)

// isTypeScript reports whether a module id names a TypeScript file.
func isTypeScript(id string) bool {
	switch strings.ToLower(path.Ext(strings.SplitN(id, "?", 2)[0])) {
	case ".ts", ".mts", ".cts":
		return true
	}
	return false
}

// stripTypes turns TypeScript into JavaScript as k6 does, with esbuild's
// Go API (the TypeScript loader k6 uses too): types go, the code stays as
// it is (ESNext, imports and exports kept), and an inline source map
// points errors at the TypeScript's lines and columns.
func stripTypes(id, src string) (string, error) {
	res := api.Transform(src, api.TransformOptions{
		Loader:     api.LoaderTS,
		Sourcefile: id,
		Sourcemap:  api.SourceMapInline,
		Target:     api.ESNext,
		Format:     api.FormatDefault,
	})
	if len(res.Errors) > 0 {
		e := res.Errors[0]
		se := &ScriptError{Message: "SyntaxError: " + e.Text, Phase: "init"}
		if e.Location != nil {
			se.File, se.Line, se.Column = id, e.Location.Line, e.Location.Column+1
		}
		var errs []error
		for _, x := range res.Errors[1:] {
			errs = append(errs, errors.New(x.Text))
		}
		if len(errs) > 0 {
			return "", fmt.Errorf("%w (and: %w)", se, errors.Join(errs...))
		}
		return "", se
	}
	return string(res.Code), nil
}

// inlineSourceMapsOnly lets the parser use the inline source maps of
// stripped TypeScript and nothing else: a sourceMappingURL that names a
// file is ignored, so the host's file system is never read.
var inlineSourceMapsOnly = parser.WithSourceMapLoader(func(string) ([]byte, error) { return nil, nil })
