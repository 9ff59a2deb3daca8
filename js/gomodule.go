package js

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/grafana/sobek"
)

// goModule is the module record of a Go module (k6's own or an
// extension), shared by all VUs; each VU's runtime gets its own instance
// when it evaluates the module graph.
type goModule struct {
	name string
	mod  Module
	l    *loader

	mu     sync.Mutex
	names  []string // export names, "default" included
	static bool     // names are known before any instance: unknown imports are errors
}

// GetExportedNames implements sobek.ModuleRecord. The names of an
// extension are those of its first instance (VU 0 instantiates every
// module before other VUs exist).
func (m *goModule) GetExportedNames(callback func([]string), _ ...sobek.ModuleRecord) bool {
	m.mu.Lock()
	names := slices.Clone(m.names)
	m.mu.Unlock()
	callback(names)
	return true
}

// ResolveExport implements sobek.ModuleRecord.
func (m *goModule) ResolveExport(name string, _ ...sobek.ResolveSetElement) (*sobek.ResolvedBinding, bool) {
	if m.static && !slices.Contains(m.names, name) {
		return nil, false
	}
	return &sobek.ResolvedBinding{Module: m, BindingName: name}, false
}

// Link implements sobek.ModuleRecord.
func (m *goModule) Link() error { return nil }

// Evaluate implements sobek.ModuleRecord: it instantiates the module for
// the VU running on rt.
func (m *goModule) Evaluate(rt *sobek.Runtime) *sobek.Promise {
	p, resolve, reject := rt.NewPromise()
	vu := m.l.vuFor(rt)
	if vu == nil {
		_ = reject(fmt.Errorf("module %q: imported outside of a VU's init code", m.name))
		return p
	}
	inst, err := vu.goInstance(m)
	if err != nil {
		_ = reject(fmt.Errorf("module %q: %w", m.name, err))
		return p
	}
	_ = resolve(inst)
	return p
}

// goInstance returns the VU's instance of a Go module, made on first
// import or require: all of them in a VU share it.
func (vu *VU) goInstance(m *goModule) (*goInstance, error) {
	for _, inst := range vu.goMods {
		if inst.m == m {
			return inst, nil
		}
	}
	if inst, ok := vu.rt.GetModuleInstance(m).(*goInstance); ok { // imported as a module
		return inst, nil
	}
	inst, err := m.instantiate(vu)
	if err != nil {
		return nil, err
	}
	vu.goMods = append(vu.goMods, inst)
	return inst, nil
}

func (m *goModule) instantiate(vu *VU) (*goInstance, error) {
	ex, err := m.mod.Instantiate(vu)
	if err != nil {
		return nil, err
	}
	inst := &goInstance{m: m, vu: vu, ex: ex, vals: make(map[string]sobek.Value, 4)}
	if !m.static {
		m.mu.Lock()
		if m.names == nil {
			names := []string{"default"}
			for k := range ex.Named {
				names = append(names, k)
			}
			sort.Strings(names[1:])
			m.names = names
		}
		m.mu.Unlock()
	}
	return inst, nil
}

// goInstance is one VU's instance of a Go module. Exports become
// JavaScript values when the script first reads them: a module such as
// k6/http has dozens, and a VU that makes a value it never reads pays
// memory for nothing.
type goInstance struct {
	m    *goModule
	vu   *VU
	ex   Exports
	vals map[string]sobek.Value
	def  sobek.Value
}

// GetBindingValue implements sobek.ModuleInstance.
func (i *goInstance) GetBindingValue(name string) sobek.Value {
	if name == "default" {
		if i.def == nil {
			if i.ex.Default != nil {
				i.def = i.vu.rt.ToValue(i.ex.Default)
			} else {
				i.def = i.vu.rt.NewDynamicObject(&lazyExports{i: i})
			}
		}
		return i.def
	}
	if v := i.named(name); v != nil {
		return v
	}
	return sobek.Undefined()
}

// named returns a named export, or nil.
func (i *goInstance) named(name string) sobek.Value {
	if v, ok := i.vals[name]; ok {
		return v
	}
	x, ok := i.ex.Named[name]
	if !ok {
		return nil
	}
	if mk, ok := x.(perVU); ok {
		x = mk(i.vu)
	}
	v := i.vu.rt.ToValue(x)
	i.vals[name] = v
	return v
}

// perVU is a named export of one of k6's modules that each VU makes on
// first use from a table all VUs of a program share: k6/http has 33
// exports, and a VU that built a map of them with a closure each kept
// 2.7 KB for the two or three its script reads.
type perVU func(vu *VU) any

// lazyExports is the default export of a module without one: an object
// of its named exports, each made on first use. Scripts may add and
// replace properties.
type lazyExports struct {
	i   *goInstance
	own map[string]sobek.Value
}

func (l *lazyExports) Get(key string) sobek.Value {
	if v, ok := l.own[key]; ok {
		return v
	}
	return l.i.named(key)
}

func (l *lazyExports) Set(key string, v sobek.Value) bool {
	if l.own == nil {
		l.own = map[string]sobek.Value{}
	}
	l.own[key] = v
	return true
}

func (l *lazyExports) Has(key string) bool { return l.Get(key) != nil }

func (l *lazyExports) Delete(key string) bool {
	if l.own == nil {
		l.own = map[string]sobek.Value{}
	}
	l.own[key] = sobek.Undefined()
	return true
}

func (l *lazyExports) Keys() []string {
	keys := make([]string, 0, len(l.i.ex.Named)+len(l.own))
	for k := range l.i.ex.Named {
		keys = append(keys, k)
	}
	for k := range l.own {
		if _, ok := l.i.ex.Named[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// builtin is one of k6's modules: its export names are known statically,
// so that importing a name it lacks is a SyntaxError, as in k6.
type builtin struct {
	names []string
	inst  func(vu *VU) (Exports, error)
}

// Instantiate implements Module.
func (b *builtin) Instantiate(vu *VU) (Exports, error) { return b.inst(vu) }
