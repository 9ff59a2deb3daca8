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
	if inst := rt.GetModuleInstance(m); inst != nil { // imported twice
		_ = resolve(inst)
		return p
	}
	vu := m.l.vuFor(rt)
	if vu == nil {
		_ = reject(fmt.Errorf("module %q: imported outside of a VU's init code", m.name))
		return p
	}
	inst, err := m.instantiate(vu)
	if err != nil {
		_ = reject(fmt.Errorf("module %q: %w", m.name, err))
		return p
	}
	_ = resolve(inst)
	return p
}

func (m *goModule) instantiate(vu *VU) (*goInstance, error) {
	ex, err := m.mod.Instantiate(vu)
	if err != nil {
		return nil, err
	}
	rt := vu.rt
	inst := &goInstance{rt: rt, named: make(map[string]sobek.Value, len(ex.Named))}
	for k, v := range ex.Named {
		inst.named[k] = rt.ToValue(v)
	}
	if ex.Default != nil {
		inst.def = rt.ToValue(ex.Default)
	}
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

// goInstance is one VU's instance of a Go module.
type goInstance struct {
	rt    *sobek.Runtime
	named map[string]sobek.Value
	def   sobek.Value // made from named on first use when nil
}

// GetBindingValue implements sobek.ModuleInstance.
func (i *goInstance) GetBindingValue(name string) sobek.Value {
	if name == "default" {
		if i.def == nil {
			o := i.rt.NewObject()
			keys := make([]string, 0, len(i.named))
			for k := range i.named {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				_ = o.Set(k, i.named[k])
			}
			i.def = o
		}
		return i.def
	}
	if v, ok := i.named[name]; ok {
		return v
	}
	return sobek.Undefined()
}

// builtin is one of k6's modules: its export names are known statically,
// so that importing a name it lacks is a SyntaxError, as in k6.
type builtin struct {
	names []string
	inst  func(vu *VU) (Exports, error)
}

// Instantiate implements Module.
func (b *builtin) Instantiate(vu *VU) (Exports, error) { return b.inst(vu) }
