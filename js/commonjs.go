package js

import (
	"fmt"
	"slices"
	"sync"

	"github.com/grafana/sobek"
)

// cjsPrefix and cjsSuffix wrap a CommonJS file into a function of its
// module variables, compiled in strict mode as k6 does: the file may then
// `return` at its top level, and its lines keep their numbers (only the
// first line's columns shift).
const (
	cjsPrefix = "(function (exports, require, module) {"
	cjsSuffix = "\n})"
)

// cjsModule is a CommonJS file (module.exports, exports, require): a
// script file without import or export statements. It is compiled once and
// run once in each VU that imports or requires it. Importing it gives
// module.exports as the default export (or its own "default" property, as
// bundlers write it) and module.exports' properties as named exports.
type cjsModule struct {
	id   string // rooted path or URL
	prog *sobek.Program
	l    *loader

	mu    sync.Mutex
	names []string // module.exports' keys after the first run: the namespace's names
}

// GetExportedNames implements sobek.ModuleRecord. A CommonJS file's exports
// are only known once it ran; VU 0 runs every module before other VUs
// exist, so its names are those every VU's namespace shows.
func (m *cjsModule) GetExportedNames(callback func([]string), _ ...sobek.ModuleRecord) bool {
	m.mu.Lock()
	names := slices.Clone(m.names)
	m.mu.Unlock()
	callback(names)
	return true
}

// ResolveExport implements sobek.ModuleRecord: any name resolves, to
// undefined when module.exports lacks it.
func (m *cjsModule) ResolveExport(name string, _ ...sobek.ResolveSetElement) (*sobek.ResolvedBinding, bool) {
	return &sobek.ResolvedBinding{Module: m, BindingName: name}, false
}

// Link implements sobek.ModuleRecord.
func (m *cjsModule) Link() error { return nil }

// Evaluate implements sobek.ModuleRecord: it runs the file in the VU on
// rt, once.
func (m *cjsModule) Evaluate(rt *sobek.Runtime) *sobek.Promise {
	p, resolve, reject := rt.NewPromise()
	vu := m.l.vuFor(rt)
	if vu == nil {
		_ = reject(fmt.Errorf("module %q: imported outside of a VU's init code", m.id))
		return p
	}
	inst, err := vu.runCJS(m)
	if err != nil {
		_ = reject(err)
		return p
	}
	_ = resolve(inst)
	return p
}

// cjsInstance is one VU's run of a CommonJS file: its module object, whose
// exports are read when imported names are.
type cjsInstance struct {
	rt     *sobek.Runtime
	module *sobek.Object
}

func (i *cjsInstance) exports() sobek.Value { return i.module.Get("exports") }

// GetBindingValue implements sobek.ModuleInstance.
func (i *cjsInstance) GetBindingValue(name string) sobek.Value {
	exp := i.exports()
	o, ok := exp.(*sobek.Object)
	if name == "default" {
		if ok && hasOwn(o, "default") {
			return o.Get("default")
		}
		return exp
	}
	if !ok {
		return sobek.Undefined()
	}
	if v := o.Get(name); v != nil {
		return v
	}
	return sobek.Undefined()
}

// hasOwn reports whether o has its own property key.
func hasOwn(o *sobek.Object, key string) bool { return slices.Contains(o.Keys(), key) }

// runCJS runs a CommonJS file in the VU, once: later imports and requires
// get the same module object, as do cycles (Node's partial exports).
func (vu *VU) runCJS(m *cjsModule) (*cjsInstance, error) {
	if inst, ok := vu.cjs[m]; ok {
		return inst, nil
	}
	rt := vu.rt
	module := rt.NewObject()
	exports := rt.NewObject()
	_ = module.Set("exports", exports)
	inst := &cjsInstance{rt: rt, module: module}
	if vu.cjs == nil {
		vu.cjs = map[*cjsModule]*cjsInstance{}
	}
	vu.cjs[m] = inst
	fnv, err := rt.RunProgram(m.prog)
	if err != nil {
		return nil, err
	}
	fn, ok := sobek.AssertFunction(fnv)
	if !ok {
		return nil, fmt.Errorf("module %q: not a CommonJS wrapper", m.id)
	}
	req := rt.ToValue(func(call sobek.FunctionCall) sobek.Value { return vu.requireFrom(m.id, call) })
	if _, err := fn(exports, exports, req, module); err != nil {
		delete(vu.cjs, m)
		return nil, err
	}
	m.mu.Lock()
	if m.names == nil {
		m.names = []string{}
		if o, ok := inst.exports().(*sobek.Object); ok {
			m.names = o.Keys()
		}
	}
	m.mu.Unlock()
	return inst, nil
}

// requireFrom is require(specifier) called from the module id: k6's and
// the extensions' modules give their default export, CommonJS files their
// module.exports, ES modules their namespace. It runs in init code only.
func (vu *VU) requireFrom(from string, call sobek.FunctionCall) sobek.Value {
	vu.mustInit("require()")
	specifier := call.Argument(0).String()
	rec, err := vu.prog.loader.resolveFrom(vu.ctxOrBackground(), from, specifier)
	if err != nil {
		vu.throwError(err)
	}
	switch m := rec.(type) {
	case *goModule:
		inst, err := vu.goInstance(m)
		if err != nil {
			vu.throwError(err)
		}
		return inst.GetBindingValue("default")
	case *cjsModule:
		inst, err := vu.runCJS(m)
		if err != nil {
			vu.throwError(err)
		}
		return inst.exports()
	case *sobek.SourceTextModuleRecord:
		if err := linkModule(m); err != nil {
			vu.throwError(fmt.Errorf("%w: require(%q): %w", ErrScript, specifier, err))
		}
		p := vu.rt.CyclicModuleRecordEvaluate(m, vu.prog.loader.resolver(vu.ctxOrBackground()))
		switch p.State() {
		case sobek.PromiseStateRejected:
			vu.throwError(promiseError(p.Result()))
		case sobek.PromiseStatePending:
			vu.throwf("require(%q): the module uses top-level await; import it instead", specifier)
		}
		return vu.rt.NamespaceObjectFor(m)
	}
	vu.throwf("require(%q): unsupported module", specifier)
	return nil
}

// require is the global require(): relative paths start from the file
// that calls it.
func (vu *VU) require(call sobek.FunctionCall) sobek.Value {
	from := vu.prog.loader.mainID
	for _, f := range vu.rt.CaptureCallStack(8, nil) {
		if name := f.SrcName(); name != "" && vu.prog.loader.known(name) {
			from = name
			break
		}
	}
	return vu.requireFrom(from, call)
}
