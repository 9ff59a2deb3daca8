package js

import (
	"context"
	"math"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/internal/duration"
)

// bytesOf returns the bytes behind an ArrayBuffer, a typed array or a
// DataView: the runtime's own memory, not a copy.
func (vu *VU) bytesOf(v sobek.Value) ([]byte, bool) {
	o, ok := v.(*sobek.Object)
	if !ok {
		return nil, false
	}
	switch x := o.Export().(type) {
	case sobek.ArrayBuffer:
		return x.Bytes(), true
	case []byte:
		return x, true
	}
	buf := o.Get("buffer")
	if buf == nil {
		return nil, false
	}
	ab, ok := buf.Export().(sobek.ArrayBuffer)
	if !ok {
		return nil, false
	}
	b := ab.Bytes()
	off := o.Get("byteOffset").ToInteger()
	n := o.Get("byteLength").ToInteger()
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return nil, false
	}
	return b[off : off+n], true
}

// arrayBuffer returns b as an ArrayBuffer; the runtime owns b afterwards.
func (vu *VU) arrayBuffer(b []byte) sobek.Value {
	if b == nil {
		b = []byte{}
	}
	return vu.rt.ToValue(vu.rt.NewArrayBuffer(b))
}

// uint8Array returns b as a Uint8Array; the runtime owns b afterwards.
func (vu *VU) uint8Array(b []byte) sobek.Value {
	ctor, ok := sobek.AssertConstructor(vu.rt.Get("Uint8Array"))
	if !ok {
		vu.throwf("Uint8Array is missing")
	}
	a, err := ctor(nil, vu.arrayBuffer(b))
	if err != nil {
		vu.throwError(err)
	}
	return a
}

// stringOrBytes returns a string's UTF-8 bytes, or the bytes of a buffer.
func (vu *VU) stringOrBytes(v sobek.Value) ([]byte, bool) {
	if b, ok := vu.bytesOf(v); ok {
		return b, true
	}
	if isNullish(v) {
		return nil, false
	}
	return []byte(v.String()), true
}

func isNullish(v sobek.Value) bool {
	return v == nil || sobek.IsUndefined(v) || sobek.IsNull(v)
}

// durationOf reads a k6 duration: a number of milliseconds or a string
// such as "30s" (a string of digits is milliseconds too).
func durationOf(v sobek.Value) (time.Duration, bool) {
	if isNullish(v) {
		return 0, false
	}
	switch x := v.Export().(type) {
	case int64:
		return time.Duration(x) * time.Millisecond, true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > float64(math.MaxInt64/int64(time.Millisecond)) {
			return 0, false
		}
		return time.Duration(x * float64(time.Millisecond)), true
	case string:
		d, err := duration.Parse(x)
		return d, err == nil
	}
	return 0, false
}

func (vu *VU) ctxOrBackground() context.Context {
	if vu.ctx == nil {
		return context.Background()
	}
	return vu.ctx
}

// getStr returns o[key] as a string, or "" when absent.
func getStr(o *sobek.Object, key string) string {
	v := o.Get(key)
	if isNullish(v) {
		return ""
	}
	return v.String()
}
