package js

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/grafana/sobek"
	"github.com/grafana/sobek/parser"
)

// loader finds, reads and compiles the script's files once, and hands out
// the same module records to every VU. After Load it is read-mostly: the
// caches only grow (open() of a file not seen yet, a SharedArray created
// by a later VU), under mu.
//
// A module's id is its rooted slash path in fsys ("/dir/lib.js") or, for
// a remote module, its URL.
type loader struct {
	fsys     fs.FS
	mainID   string // the entry script's id
	builtins map[string]Module
	remote   ModuleFetcher // nil: remote modules are refused

	mu      sync.RWMutex
	records map[string]sobek.ModuleRecord // script files by id: ES modules and CommonJS
	flat    *flatModule                   // the entry script as a function, or nil
	sources map[string][]byte             // their code, by id
	ids     map[sobek.ModuleRecord]string
	gomods  map[string]*goModule
	files   map[string]*fileData
	shared  map[string]*sharedArray

	vus sync.Map // *sobek.Runtime → *VU, while the VU runs its init code
}

// fileData is one file read by open(), kept once for all VUs.
type fileData struct {
	data []byte
	once sync.Once
	str  string
}

func (f *fileData) text() string {
	f.once.Do(func() { f.str = string(f.data) })
	return f.str
}

// newLoader reads the entry script and compiles it with every file it
// imports.
func newLoader(ctx context.Context, src Source, opts Options) (*loader, sobek.ModuleRecord, error) {
	l := &loader{
		builtins: builtinModules(), remote: opts.Remote,
		records: map[string]sobek.ModuleRecord{}, sources: map[string][]byte{},
		ids: map[sobek.ModuleRecord]string{}, gomods: map[string]*goModule{},
		files: map[string]*fileData{}, shared: map[string]*sharedArray{},
	}
	for name, m := range opts.Modules {
		l.builtins[name] = m
	}
	var code []byte
	switch {
	case src.Code != nil:
		name := src.Filename
		if name == "" {
			name = "script.js"
		}
		p, err := l.root(src.FS, name)
		if err != nil {
			return nil, nil, err
		}
		l.mainID, code = p, src.Code
	case src.Path != "":
		p, err := l.root(src.FS, src.Path)
		if err != nil {
			return nil, nil, err
		}
		l.mainID = p
		if code, err = l.readFile(p); err != nil {
			return nil, nil, fmt.Errorf("%w: reading the script: %w", ErrScript, err)
		}
	default:
		return nil, nil, fmt.Errorf("%w: no script: set Source.Path or Source.Code", ErrScript)
	}
	l.mu.Lock()
	main, err := l.compile(ctx, l.mainID, code)
	l.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if err := linkModule(main); err != nil {
		return nil, nil, newScriptError(err, "init")
	}
	return l, main, nil
}

// linkModule links (and so compiles) a module graph; resolution errors
// surface as panics inside sobek, which it turns into errors here.
func linkModule(m sobek.ModuleRecord) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	return m.Link()
}

// root sets the loader's file system and returns name as a rooted slash
// path in it.
func (l *loader) root(fsys fs.FS, name string) (string, error) {
	if fsys != nil {
		l.fsys = fsys
		return path.Clean("/" + filepath.ToSlash(name)), nil
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", fmt.Errorf("%w: script path %q: %w", ErrScript, name, err)
	}
	l.fsys = os.DirFS("/")
	return path.Clean(filepath.ToSlash(abs)), nil
}

// fsPath is a rooted path as fs.FS wants it.
func fsPath(p string) string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "."
	}
	return p
}

// compile parses one file, l.mu held: an ES module when it has import or
// export statements (or top-level await), else a CommonJS file. k6 tells
// them apart the same way. The modules it imports are fetched with ctx.
func (l *loader) compile(ctx context.Context, id string, code []byte) (sobek.ModuleRecord, error) {
	src := string(code)
	maps := parser.WithDisableSourceMaps
	if isTypeScript(id) {
		js, err := stripTypes(id, src)
		if err != nil {
			return nil, err
		}
		src = js
		maps = inlineSourceMapsOnly
	}
	ast, esmErr := parser.ParseFile(nil, id, src, 0, parser.IsModule, maps)
	var rec sobek.ModuleRecord
	if esmErr == nil && (len(ast.ImportEntries) > 0 || len(ast.ExportEntries) > 0 || ast.HasTLA) {
		m, err := sobek.ModuleFromAST(ast, l.resolver(ctx))
		if err != nil {
			return nil, newScriptError(err, "init")
		}
		rec = m
		if id == l.mainID && !isTypeScript(id) {
			l.flat = l.compileFlat(id, src, ast, maps)
		}
	} else {
		// Source maps stay off: a sourceMappingURL would make the parser
		// read the host's file system.
		prog, err := compileCJS(id, src, maps)
		if err != nil {
			if esmErr != nil {
				err = esmErr
			}
			return nil, newScriptError(err, "init")
		}
		rec = &cjsModule{id: id, prog: prog, l: l}
	}
	l.records[id] = rec
	l.ids[rec] = id
	l.sources[id] = code
	return rec, nil
}

// compileCJS compiles a CommonJS file's wrapper function.
func compileCJS(id, src string, maps parser.Option) (*sobek.Program, error) {
	ast, err := parser.ParseFile(nil, id, cjsPrefix+src+cjsSuffix, 0, maps)
	if err != nil {
		return nil, err
	}
	return sobek.CompileAST(ast, true)
}

// known reports whether id is a script file the loader compiled.
func (l *loader) known(id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.records[id]
	return ok
}

// resolver returns a sobek.HostResolveImportedModuleFunc: k6's and the
// extensions' modules by name, script files by path relative to the
// importing file, remote modules fetched with ctx. Load links every
// module its script imports; later resolutions find them compiled.
func (l *loader) resolver(ctx context.Context) sobek.HostResolveImportedModuleFunc {
	return func(referrer any, specifier string) (sobek.ModuleRecord, error) {
		from := l.mainID
		if rec, ok := referrer.(sobek.ModuleRecord); ok {
			l.mu.RLock()
			if id, ok := l.ids[rec]; ok {
				from = id
			}
			l.mu.RUnlock()
		}
		return l.resolveFrom(ctx, from, specifier)
	}
}

// resolveFrom returns the module that specifier names in the module from,
// reading (or fetching) and compiling a script file the first time.
func (l *loader) resolveFrom(ctx context.Context, from, specifier string) (sobek.ModuleRecord, error) {
	if specifier == "k6" || strings.HasPrefix(specifier, "k6/") {
		return l.goModule(specifier)
	}
	id, err := moduleID(from, specifier)
	if err != nil {
		return nil, fmt.Errorf("%w: import %q: %w", ErrScript, specifier, err)
	}
	l.mu.RLock()
	rec, ok := l.records[id]
	l.mu.RUnlock()
	if ok {
		return rec, nil
	}
	code, err := l.read(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("%w: import %q from %s: %w", ErrScript, specifier, from, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec, ok := l.records[id]; ok {
		return rec, nil
	}
	return l.compile(ctx, id, code)
}

// read returns the code of a script file or a remote module.
func (l *loader) read(ctx context.Context, id string) ([]byte, error) {
	if !isRemote(id) {
		return l.readFile(id)
	}
	if l.remote == nil {
		return nil, fmt.Errorf("%w: remote modules are not enabled here", ErrModuleRefused)
	}
	return l.remote.FetchModule(ctx, id)
}

// isRemote reports whether a module id is a URL.
func isRemote(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// moduleID resolves a file specifier against the id of the module that
// names it: a path in the script's file system, or a URL for remote
// modules and for relative paths inside them.
func moduleID(from, specifier string) (string, error) {
	switch {
	case strings.HasPrefix(specifier, "http://"):
		return "", errors.New("only file and https imports are supported, as in k6")
	case isRemote(specifier):
		u, err := url.Parse(specifier)
		if err != nil {
			return "", err
		}
		return u.String(), nil
	case strings.HasPrefix(specifier, "file://"):
		return path.Clean("/" + strings.TrimPrefix(strings.TrimPrefix(specifier, "file://"), "/")), nil
	case !strings.HasPrefix(specifier, "/") && !strings.HasPrefix(specifier, "./") && !strings.HasPrefix(specifier, "../"):
		return "", errors.New("not a k6 module, and not a file path (start it with ./ or ../) or URL")
	case isRemote(from):
		base, err := url.Parse(from)
		if err != nil {
			return "", err
		}
		ref, err := url.Parse(specifier)
		if err != nil {
			return "", err
		}
		return base.ResolveReference(ref).String(), nil
	case strings.HasPrefix(specifier, "/"):
		return path.Clean(specifier), nil
	}
	return path.Join(path.Dir(from), specifier), nil
}

// goModule returns the shared record of a Go module.
func (l *loader) goModule(name string) (*goModule, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.goModuleLocked(name)
}

// goModuleLocked is goModule with l.mu held.
func (l *loader) goModuleLocked(name string) (*goModule, error) {
	if gm, ok := l.gomods[name]; ok {
		return gm, nil
	}
	m, ok := l.builtins[name]
	if !ok {
		if strings.HasPrefix(name, extPrefix) {
			return nil, fmt.Errorf("%w: import %q: no such extension; register it in js.Options.Modules", ErrScript, name)
		}
		return nil, fmt.Errorf("%w: import %q: unknown k6 module (loadlens has %s)", ErrScript, name, strings.Join(builtinNames(), ", "))
	}
	gm := &goModule{name: name, mod: m, l: l}
	if b, ok := m.(*builtin); ok {
		gm.names = append([]string{"default"}, b.names...)
		gm.static = true
	}
	l.gomods[name] = gm
	return gm, nil
}

// open reads a file for open(), once per program.
func (l *loader) open(name string) (*fileData, error) {
	p := name
	if !strings.HasPrefix(p, "/") {
		p = path.Join(path.Dir(l.mainID), filepath.ToSlash(name))
	}
	p = path.Clean(p)
	l.mu.RLock()
	f, ok := l.files[p]
	l.mu.RUnlock()
	if ok {
		return f, nil
	}
	data, err := l.readFile(p)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.files[p]; ok {
		return f, nil
	}
	f = &fileData{data: data}
	l.files[p] = f
	return f, nil
}

// readFile reads the file at slash path p ("/dir/file.js"); its errors
// name p as scripts do, "/" and all (fs.FS paths have no leading "/").
func (l *loader) readFile(p string) ([]byte, error) {
	data, err := fs.ReadFile(l.fsys, fsPath(p))
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		pe.Path = p
	}
	return data, err
}

// vuFor returns the VU whose init code runs on rt.
func (l *loader) vuFor(rt *sobek.Runtime) *VU {
	v, _ := l.vus.Load(rt)
	vu, _ := v.(*VU)
	return vu
}
