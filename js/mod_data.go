package js

import (
	"fmt"
	"sync"

	"github.com/grafana/sobek"
)

// sharedArray is the data of one SharedArray: built once per program by
// the first VU that names it, then read by all. Elements are kept as JSON
// and parsed on each access, as in k6: the memory is paid once, the CPU on
// each read.
type sharedArray struct {
	mu    sync.Mutex // held while the first VU builds it
	done  bool
	items []string
	err   error
}

// dataModule is k6/data: SharedArray.
func dataModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{"SharedArray": vu.newSharedArray}}, nil
}

// newSharedArray implements new SharedArray(name, fn): fn runs once per
// program and must return an array; every VU gets a read-only view.
func (vu *VU) newSharedArray(call sobek.ConstructorCall) *sobek.Object {
	vu.mustInit("new SharedArray()")
	name := call.Argument(0).String()
	if sobek.IsUndefined(call.Argument(0)) || name == "" {
		vu.typeErrorf("SharedArray: a name is required")
	}
	fn, ok := sobek.AssertFunction(call.Argument(1))
	if !ok {
		vu.typeErrorf("SharedArray %q: the second argument must be a function returning an array", name)
	}
	l := vu.prog.loader
	l.mu.Lock()
	sa, ok := l.shared[name]
	if !ok {
		sa = &sharedArray{}
		l.shared[name] = sa
	}
	l.mu.Unlock()

	sa.mu.Lock()
	if !sa.done {
		sa.items, sa.err = vu.buildShared(name, fn)
		sa.done = true
	}
	items, err := sa.items, sa.err
	sa.mu.Unlock()
	if err != nil {
		vu.throwError(err)
	}
	return vu.rt.NewDynamicArray(&sharedView{vu: vu, items: items})
}

// buildShared runs fn and keeps each element as JSON.
func (vu *VU) buildShared(name string, fn sobek.Callable) ([]string, error) {
	v, err := fn(sobek.Undefined())
	if err != nil {
		return nil, err
	}
	if isPromise(v) {
		return nil, fmt.Errorf("SharedArray %q: the function must not be async", name)
	}
	o, ok := v.(*sobek.Object)
	if !ok || o.ClassName() != "Array" {
		return nil, fmt.Errorf("SharedArray %q: the function must return an array", name)
	}
	n := int(o.Get("length").ToInteger())
	items := make([]string, n)
	for i := range n {
		b, err := vu.stringify(o.Get(fmt.Sprint(i)))
		if err != nil {
			return nil, fmt.Errorf("SharedArray %q: element %d: %w", name, i, err)
		}
		if b == nil {
			b = []byte("null")
		}
		items[i] = string(b)
	}
	return items, nil
}

// sharedView is one VU's read-only view of a SharedArray.
type sharedView struct {
	vu    *VU
	items []string
}

func (s *sharedView) Len() int { return len(s.items) }

func (s *sharedView) Get(i int) sobek.Value {
	if i < 0 || i >= len(s.items) {
		return sobek.Undefined()
	}
	v, err := s.vu.parseJSONString(s.items[i])
	if err != nil {
		s.vu.throwError(err)
	}
	if o, ok := v.(*sobek.Object); ok {
		freeze(s.vu.rt, o)
	}
	return v
}

func (s *sharedView) Set(int, sobek.Value) bool {
	s.vu.typeErrorf("SharedArray is read-only")
	return false
}

func (s *sharedView) SetLen(int) bool {
	s.vu.typeErrorf("SharedArray is read-only")
	return false
}
