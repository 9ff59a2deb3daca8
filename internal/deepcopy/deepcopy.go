// Package deepcopy copies plain data: structs, maps, slices and pointers,
// down to their leaves, so that the copy shares no memory that either side
// could change.
//
// Unexported fields are copied as they are (reflection cannot set them):
// types with unexported reference fields share those; time.Time's location
// pointer is one, and it is immutable. Channels and funcs are shared too.
// Cycles are not followed: plain data has none.
package deepcopy

import "reflect"

// Of returns a deep copy of v.
func Of[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	out := reflect.New(rv.Type()).Elem()
	copyValue(out, rv)
	return out.Interface().(T)
}

// copyValue sets dst, a settable value of src's type, to a deep copy of src.
func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyValue(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		inner := reflect.New(src.Elem().Type()).Elem()
		copyValue(inner, src.Elem())
		dst.Set(inner)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		kt, vt := src.Type().Key(), src.Type().Elem()
		for it := src.MapRange(); it.Next(); {
			k, v := reflect.New(kt).Elem(), reflect.New(vt).Elem()
			copyValue(k, it.Key())
			copyValue(v, it.Value())
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if flat(src.Type().Elem()) {
			reflect.Copy(s, src)
		} else {
			for i := range src.Len() {
				copyValue(s.Index(i), src.Index(i))
			}
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			copyValue(dst.Index(i), src.Index(i))
		}
	case reflect.Struct:
		dst.Set(src) // unexported fields as they are
		if flat(src.Type()) {
			return
		}
		for i := range src.NumField() {
			if f := dst.Field(i); f.CanSet() {
				copyValue(f, src.Field(i))
			}
		}
	default:
		dst.Set(src)
	}
}

// flat reports whether values of t hold no references, so that copying
// their bytes copies them whole.
func flat(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return false
	case reflect.Array:
		return flat(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !flat(t.Field(i).Type) {
				return false
			}
		}
	}
	return true // numbers, bools and strings (immutable)
}
