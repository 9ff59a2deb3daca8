package js

import (
	"errors"
	"fmt"
	"io/fs"
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
type loader struct {
	fsys     fs.FS
	mainPath string // slash path of the entry script, rooted: "/dir/script.js"
	builtins map[string]Module

	mu      sync.RWMutex
	records map[string]*sobek.SourceTextModuleRecord // by rooted path
	paths   map[sobek.ModuleRecord]string
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
func newLoader(src Source, opts Options) (*loader, *sobek.SourceTextModuleRecord, error) {
	l := &loader{
		builtins: builtinModules(), records: map[string]*sobek.SourceTextModuleRecord{},
		paths: map[sobek.ModuleRecord]string{}, gomods: map[string]*goModule{},
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
		l.mainPath, code = p, src.Code
	case src.Path != "":
		p, err := l.root(src.FS, src.Path)
		if err != nil {
			return nil, nil, err
		}
		l.mainPath = p
		if code, err = fs.ReadFile(l.fsys, fsPath(p)); err != nil {
			return nil, nil, fmt.Errorf("%w: reading the script: %w", ErrScript, err)
		}
	default:
		return nil, nil, fmt.Errorf("%w: no script: set Source.Path or Source.Code", ErrScript)
	}
	l.mu.Lock()
	main, err := l.compile(l.mainPath, code)
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
func linkModule(m *sobek.SourceTextModuleRecord) (err error) {
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

// compile parses one file as an ES module; l.mu is held.
func (l *loader) compile(p string, code []byte) (*sobek.SourceTextModuleRecord, error) {
	ast, err := parser.ParseFile(nil, p, string(code), 0, parser.IsModule, parser.WithDisableSourceMaps)
	if err != nil {
		return nil, newScriptError(err, "init")
	}
	rec, err := sobek.ModuleFromAST(ast, l.resolve)
	if err != nil {
		return nil, newScriptError(err, "init")
	}
	l.records[p] = rec
	l.paths[rec] = p
	return rec, nil
}

// resolve implements sobek.HostResolveImportedModuleFunc: k6's and the
// extensions' modules by name, script files by path relative to the
// importing file.
func (l *loader) resolve(referrer any, specifier string) (sobek.ModuleRecord, error) {
	l.mu.RLock()
	if gm, ok := l.gomods[specifier]; ok {
		l.mu.RUnlock()
		return gm, nil
	}
	from := l.mainPath
	if rec, ok := referrer.(sobek.ModuleRecord); ok {
		if p, ok := l.paths[rec]; ok {
			from = p
		}
	}
	l.mu.RUnlock()

	switch {
	case specifier == "k6" || strings.HasPrefix(specifier, "k6/"):
		return l.goModule(specifier)
	case strings.HasPrefix(specifier, "http://") || strings.HasPrefix(specifier, "https://"):
		switch name := jslibModule(specifier); name {
		case "k6-summary":
			return l.goModule("jslib/" + name)
		case "k6-utils", "url":
			return l.jslibShim(name)
		}
		return nil, fmt.Errorf("%w: import %q: remote modules are not supported; download the file and import it by a relative path", ErrScript, specifier)
	}
	p, err := l.filePath(from, specifier)
	if err != nil {
		return nil, fmt.Errorf("%w: import %q: %w", ErrScript, specifier, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec, ok := l.records[p]; ok {
		return rec, nil
	}
	code, err := fs.ReadFile(l.fsys, fsPath(p))
	if err != nil {
		return nil, fmt.Errorf("%w: import %q from %s: %w", ErrScript, specifier, from, err)
	}
	return l.compile(p, code)
}

// jslibShim returns loadlens's own version of a jslib module, compiled
// once.
func (l *loader) jslibShim(name string) (sobek.ModuleRecord, error) {
	key := "jslib:" + name
	l.mu.Lock()
	defer l.mu.Unlock()
	if rec, ok := l.records[key]; ok {
		return rec, nil
	}
	code, err := jslibFiles.ReadFile("jslib/" + name + ".js")
	if err != nil {
		return nil, fmt.Errorf("jslib %s: %w", name, err)
	}
	return l.compile(key, code)
}

// filePath resolves a file specifier against the importing file.
func (l *loader) filePath(from, specifier string) (string, error) {
	switch {
	case strings.HasPrefix(specifier, "file://"):
		return path.Clean("/" + strings.TrimPrefix(strings.TrimPrefix(specifier, "file://"), "/")), nil
	case strings.HasPrefix(specifier, "/"):
		return path.Clean(specifier), nil
	case strings.HasPrefix(specifier, "./") || strings.HasPrefix(specifier, "../"):
		return path.Join(path.Dir(from), specifier), nil
	}
	return "", errors.New("not a k6 module, and not a file path (start it with ./ or ../)")
}

// goModule returns the shared record of a Go module.
func (l *loader) goModule(name string) (*goModule, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
		p = path.Join(path.Dir(l.mainPath), filepath.ToSlash(name))
	}
	p = path.Clean(p)
	l.mu.RLock()
	f, ok := l.files[p]
	l.mu.RUnlock()
	if ok {
		return f, nil
	}
	data, err := fs.ReadFile(l.fsys, fsPath(p))
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

// vuFor returns the VU whose init code runs on rt.
func (l *loader) vuFor(rt *sobek.Runtime) *VU {
	v, _ := l.vus.Load(rt)
	vu, _ := v.(*VU)
	return vu
}
