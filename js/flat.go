package js

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/ast"
	"github.com/grafana/sobek/parser"
)

// flatModule is the entry script, an ES module whose imports are all Go
// modules (k6's or extensions'), compiled a second time as one function:
//
//	(function ($llm) { const http = $llm(0, "default"); …the script… ; return (name) => export })
//
// A VU runs that function instead of evaluating the module with sobek,
// whose module evaluation makes the runtime's Promise constructor and
// prototype, a promise and its resolving functions per module, and the
// module's async function state: about 20 KB a VU keeps for nothing (pprof
// heap of 2 000 idle VUs). The module record stays what Load links, so
// imports are checked as before.
//
// The script keeps its semantics: it runs in strict mode, `this` is
// undefined at its top level, imports are constant bindings made before
// the body runs and in the order of the import statements (a Go module's
// exports never change, so they are as live as ESM's), exports are read
// when the VU reads them. The import and export keywords become spaces,
// so that lines and columns stay where they were, except on line 1 when
// code follows the imports there. Whatever it cannot flatten exactly
// (top-level await, import.meta, import(), namespace imports, re-exports,
// imports of files) is evaluated as a module.
type flatModule struct {
	prog  *sobek.Program
	mods  []*goModule // $llm's first argument indexes these
	names []string    // the exported names, in the script's order
}

// flatPrefix starts every name the flat function adds; a script that
// contains it is not flattened.
const flatPrefix = "$ll"

// unflattenable finds what the flat function would run differently.
var unflattenable = regexp.MustCompile(`\bimport\s*[.(]`)

// flatten returns the flat function's source, the Go module specifiers
// it imports and the names it imports from each, by index, and the names
// the script exports; ok is false when the module must be evaluated as a
// module.
func flatten(src string, prog *ast.Program) (code string, specs []string, imported [][]string, names []string, ok bool) {
	if prog.HasTLA || strings.Contains(src, flatPrefix) || unflattenable.MatchString(src) {
		return "", nil, nil, nil, false
	}
	out := []byte(src)
	var prologue strings.Builder
	exports := map[string]string{} // export name → expression
	export := func(name, expr string) {
		if _, dup := exports[name]; !dup {
			names = append(names, name)
		}
		exports[name] = expr
	}
	holder := false   // $lld holds an anonymous default export
	var insertAt = -1 // where "};" or "}" closes $lld's object literal
	var insert string
	specIndex := map[string]int{}
	for i, st := range prog.Body {
		start := int(st.Idx0()) - 1
		end := len(src)
		if i+1 < len(prog.Body) {
			end = int(prog.Body[i+1].Idx0()) - 1
		}
		switch s := st.(type) {
		case *ast.ImportDeclaration:
			spec := string(s.ModuleSpecifier)
			if s.FromClause != nil {
				spec = string(s.FromClause.ModuleSpecifier)
			}
			if spec != "k6" && !strings.HasPrefix(spec, "k6/") {
				return "", nil, nil, nil, false
			}
			idx, seen := specIndex[spec]
			if !seen {
				idx = len(specs)
				specIndex[spec] = idx
				specs = append(specs, spec)
				imported = append(imported, nil)
			}
			call := func(name string) string {
				imported[idx] = append(imported[idx], name)
				return flatPrefix + "m(" + strconv.Itoa(idx) + "," + strconv.Quote(name) + ")"
			}
			c := s.ImportClause
			switch {
			case c == nil:
				prologue.WriteString(flatPrefix + "m(" + strconv.Itoa(idx) + ");")
			case c.NameSpaceImport != nil:
				return "", nil, nil, nil, false
			default:
				if b := c.ImportedDefaultBinding; b != nil {
					prologue.WriteString("const " + string(b.Name) + "=" + call("default") + ";")
				}
				if c.NamedImports != nil {
					for _, sp := range c.NamedImports.ImportsList {
						local := sp.Alias
						if local == "" {
							local = sp.IdentifierName
						}
						prologue.WriteString("const " + string(local) + "=" + call(string(sp.IdentifierName)) + ";")
					}
				}
				if c.ImportedDefaultBinding == nil && c.NamedImports == nil {
					prologue.WriteString(flatPrefix + "m(" + strconv.Itoa(idx) + ");")
				}
			}
			blank(out, start, end)
		case *ast.ExportDeclaration:
			if s.ExportFromClause != nil || s.FromClause != nil {
				return "", nil, nil, nil, false
			}
			switch {
			case s.NamedExports != nil:
				for _, sp := range s.NamedExports.ExportsList {
					name := sp.Alias
					if name == "" {
						name = sp.IdentifierName
					}
					export(string(name), string(sp.IdentifierName))
				}
				blank(out, start, end)
				continue
			case s.IsDefault:
				var decl ast.Node
				var local *ast.Identifier
				switch {
				case s.HoistableDeclaration != nil && s.HoistableDeclaration.FunctionDeclaration != nil:
					fn := s.HoistableDeclaration.FunctionDeclaration.Function
					decl, local = s.HoistableDeclaration.FunctionDeclaration, fn.Name
				case s.ClassDeclaration != nil:
					decl, local = s.ClassDeclaration, s.ClassDeclaration.Class.Name
				case s.AssignExpression != nil:
					decl = s.AssignExpression
				default:
					return "", nil, nil, nil, false
				}
				kw, ok := afterKeywords(src, start, "export", "default")
				if !ok {
					return "", nil, nil, nil, false
				}
				if local != nil && local.Name == "default" {
					local = nil // the parser's name of an anonymous function
				}
				if local != nil {
					blank(out, start, kw)
					export("default", string(local.Name))
					continue
				}
				// An anonymous default export is named "default", as
				// in a module: the name a property key gives.
				lit := flatPrefix + "d={default:"
				if len(lit) > kw-start || strings.ContainsAny(src[start:start+len(lit)], "\r\n\u2028\u2029") {
					return "", nil, nil, nil, false
				}
				closeAt := int(decl.Idx1()) - 1
				if !closesWell(src, decl, closeAt) {
					return "", nil, nil, nil, false
				}
				blank(out, start, kw)
				copy(out[start:], lit)
				holder, insertAt, insert = true, closeAt, "}"
				if _, isExpr := decl.(ast.Expression); !isExpr {
					insert = "};" // a declaration ended the statement
				}
				export("default", flatPrefix+"d.default")
				continue
			}
			var idents []*ast.Identifier
			switch {
			case s.Variable != nil:
				for _, b := range s.Variable.List {
					id, isID := b.Target.(*ast.Identifier)
					if !isID {
						return "", nil, nil, nil, false
					}
					idents = append(idents, id)
				}
			case s.LexicalDeclaration != nil:
				for _, b := range s.LexicalDeclaration.List {
					id, isID := b.Target.(*ast.Identifier)
					if !isID {
						return "", nil, nil, nil, false
					}
					idents = append(idents, id)
				}
			case s.HoistableDeclaration != nil && s.HoistableDeclaration.FunctionDeclaration != nil:
				idents = append(idents, s.HoistableDeclaration.FunctionDeclaration.Function.Name)
			case s.ClassDeclaration != nil:
				idents = append(idents, s.ClassDeclaration.Class.Name)
			default:
				return "", nil, nil, nil, false
			}
			kw, ok := afterKeywords(src, start, "export")
			if !ok {
				return "", nil, nil, nil, false
			}
			for _, id := range idents {
				if id == nil {
					return "", nil, nil, nil, false
				}
				export(string(id.Name), string(id.Name))
			}
			blank(out, start, kw)
		}
	}
	if insertAt >= 0 {
		out = slices.Insert(out, insertAt, []byte(insert)...)
	}
	// The function's start goes on line 1: only a comment or the
	// semicolons of imports may be there, so that no column moves.
	first, _, _ := strings.Cut(string(out), "\n")
	if first = strings.Trim(first, " \t\r;"); first != "" && !strings.HasPrefix(first, "//") {
		return "", nil, nil, nil, false
	}
	var b strings.Builder
	b.WriteString("(function (" + flatPrefix + "m) {")
	if holder {
		b.WriteString("let " + flatPrefix + "d;")
	}
	b.WriteString(prologue.String())
	b.Write(out)
	b.WriteString("\n;return function (n) { switch (n) {")
	for _, name := range names {
		b.WriteString(" case " + strconv.Quote(name) + ": return " + exports[name] + ";")
	}
	b.WriteString(" } };\n})")
	return b.String(), specs, imported, names, true
}

// blank turns src[from:to] into spaces, keeping its line breaks.
func blank(src []byte, from, to int) {
	for i := from; i < to; i++ {
		if src[i] != '\n' && src[i] != '\r' {
			src[i] = ' '
		}
	}
}

// afterKeywords returns the offset in src after the keywords at from,
// each followed by ASCII white space; ok is false when something else
// (a comment, say) is there.
func afterKeywords(src string, from int, keywords ...string) (at int, ok bool) {
	at = from
	for _, kw := range keywords {
		if !strings.HasPrefix(src[at:], kw) {
			return 0, false
		}
		at += len(kw)
		n := len(src[at:]) - len(strings.TrimLeft(src[at:], " \t\r\n"))
		if n == 0 && at < len(src) && isIdentChar(src[at]) {
			return 0, false
		}
		at += n
	}
	return at, true
}

// isIdentChar reports whether c may continue an ASCII identifier.
func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// closesWell reports whether the default export's expression ends at end
// in src: the expressions whose end the parser knows exactly.
func closesWell(src string, n ast.Node, end int) bool {
	if end <= 0 || end > len(src) {
		return false
	}
	switch x := n.(type) {
	case *ast.FunctionDeclaration, *ast.ClassDeclaration, *ast.FunctionLiteral, *ast.ClassLiteral, *ast.ObjectLiteral:
		return src[end-1] == '}'
	case *ast.ArrowFunctionLiteral:
		_, block := x.Body.(*ast.BlockStatement)
		return block && src[end-1] == '}'
	case *ast.Identifier:
		return src[int(x.Idx)-1:end] == string(x.Name)
	}
	return false
}

// compileFlat compiles the flat function of an entry ES module, or
// returns nil when the module must be evaluated as a module.
func (l *loader) compileFlat(id, src string, prog *ast.Program, maps parser.Option) *flatModule {
	code, specs, imported, names, ok := flatten(src, prog)
	if !ok {
		return nil
	}
	fast, err := parser.ParseFile(nil, id, code, 0, maps)
	if err != nil {
		return nil
	}
	compiled, err := sobek.CompileAST(fast, true)
	if err != nil {
		return nil
	}
	fm := &flatModule{prog: compiled, names: names}
	for i, spec := range specs {
		gm, err := l.goModuleLocked(spec)
		if err != nil {
			return nil
		}
		for _, name := range imported[i] {
			if gm.static && !slices.Contains(gm.names, name) {
				return nil // the module's evaluation reports it as k6 does
			}
		}
		fm.mods = append(fm.mods, gm)
	}
	return fm
}

// runFlat runs the flat entry script in the VU and returns its exports.
func (vu *VU) runFlat(fm *flatModule) (*sobek.Object, error) {
	rt := vu.rt
	fnv, err := rt.RunProgram(fm.prog)
	if err != nil {
		return nil, err
	}
	fn, _ := sobek.AssertFunction(fnv)
	imp := rt.ToValue(func(call sobek.FunctionCall) sobek.Value {
		inst, err := vu.goInstance(fm.mods[call.Argument(0).ToInteger()])
		if err != nil {
			vu.throwError(err)
		}
		if name := call.Argument(1); !sobek.IsUndefined(name) {
			return inst.GetBindingValue(name.String())
		}
		return sobek.Undefined()
	})
	getv, err := fn(sobek.Undefined(), imp)
	if err != nil {
		return nil, err
	}
	get, _ := sobek.AssertFunction(getv)
	return rt.NewDynamicObject(&flatExports{rt: rt, get: get, names: fm.names}), nil
}

// flatExports is a flat entry script's exports, as its namespace object
// shows them: read-only, each read when it is asked for.
type flatExports struct {
	rt    *sobek.Runtime
	get   sobek.Callable
	names []string
}

func (e *flatExports) Get(key string) sobek.Value {
	if !e.Has(key) {
		return nil
	}
	v, err := e.get(sobek.Undefined(), e.rt.ToValue(key))
	if err != nil {
		panic(err)
	}
	return v
}

func (e *flatExports) Set(string, sobek.Value) bool { return false }
func (e *flatExports) Has(key string) bool          { return slices.Contains(e.names, key) }
func (e *flatExports) Delete(string) bool           { return false }
func (e *flatExports) Keys() []string               { return slices.Clone(e.names) }
