package js

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/grafana/sobek"
)

// installGlobals defines k6's globals on a new runtime: __ENV, __VU and
// __ITER on the global object, and console, open, require, the timers,
// TextEncoder, TextDecoder, crypto and (in the extended compatibility
// mode) global on a lazy object behind it: each is made the first time a
// script names it, since most scripts use two or three of them and every
// VU would pay for all.
func (vu *VU) installGlobals() error {
	rt := vu.rt
	g := rt.GlobalObject()
	vu.setEnv(vu.prog.opts.Env)
	if err := g.Set("__VU", vu.id); err != nil {
		return err
	}
	if err := g.DefineAccessorProperty("__ITER", rt.ToValue(func(sobek.FunctionCall) sobek.Value {
		if vu.state == nil {
			return rt.ToValue(0)
		}
		return rt.ToValue(vu.state.Iteration().IterationInInstance)
	}), nil, sobek.FLAG_TRUE, sobek.FLAG_TRUE); err != nil {
		return err
	}
	lazy := rt.NewDynamicObject(&lazyGlobals{vu: vu})
	return g.SetPrototype(lazy)
}

// lazyGlobals holds the globals a VU makes on first use; it is the global
// object's prototype, so that names resolve through it.
type lazyGlobals struct {
	vu   *VU
	vals map[string]sobek.Value
}

func (l *lazyGlobals) Get(key string) sobek.Value {
	if v, ok := l.vals[key]; ok {
		return v
	}
	vu := l.vu
	rt := vu.rt
	var v sobek.Value
	switch key {
	case "console":
		v = vu.console()
	case "open":
		v = rt.ToValue(vu.open)
	case "require":
		v = rt.ToValue(vu.require)
	case "setTimeout", "clearTimeout", "setInterval", "clearInterval":
		v = rt.ToValue(vu.timerFuncs()[key])
	case "TextEncoder":
		v = rt.ToValue(vu.textEncoder)
	case "TextDecoder":
		v = rt.ToValue(vu.textDecoder)
	case "crypto":
		cr := rt.NewObject()
		_ = cr.Set("getRandomValues", vu.getRandomValues)
		_ = cr.Set("randomUUID", func(sobek.FunctionCall) sobek.Value { return rt.ToValue(randomUUID()) })
		_ = cr.Set("subtle", vu.subtle())
		v = cr
	case "global":
		if vu.prog.opts.CompatibilityMode == "base" {
			return nil
		}
		v = rt.GlobalObject()
	default:
		return nil
	}
	if l.vals == nil {
		l.vals = make(map[string]sobek.Value, 4)
	}
	l.vals[key] = v
	return v
}

// Set implements sobek.DynamicObject; assignments to these names land on
// the global object itself, so this only happens through the prototype.
func (l *lazyGlobals) Set(key string, v sobek.Value) bool {
	if l.vals == nil {
		l.vals = make(map[string]sobek.Value, 4)
	}
	l.vals[key] = v
	return true
}

func (l *lazyGlobals) Has(key string) bool { return l.Get(key) != nil }

func (l *lazyGlobals) Delete(key string) bool {
	if l.vals == nil {
		l.vals = make(map[string]sobek.Value, 4)
	}
	l.vals[key] = sobek.Undefined()
	return true
}

func (l *lazyGlobals) Keys() []string { return nil }

// setEnv replaces __ENV with an object over env, which the VU shares
// with every other VU of the run and never changes (see envObject).
func (vu *VU) setEnv(env map[string]string) {
	_ = vu.rt.GlobalObject().Set("__ENV", vu.rt.NewDynamicObject(&envObject{base: env, vals: &vu.prog.envVals}))
}

// envObject is a VU's __ENV: the run's variables, read from the map all
// VUs share, under what this VU's script set or deleted. With the system
// environment in __ENV (as k6 has it by default), an object of its own
// per VU held 1.8 KB of properties in each of 2 000 VUs (pprof heap,
// setEnv); a script reads two or three. A value read is made into a
// JavaScript string once for all VUs (vals): made per read, it was two
// allocations of every iteration that reads __ENV.URL (pprof
// -memprofilerate 1). Such a string holds no runtime and never changes,
// so the runtimes can share it.
type envObject struct {
	base map[string]string      // read-only
	own  map[string]sobek.Value // the script's writes; nil marks a deleted key
	vals *envValues             // the program's
}

// envValues are the values of __ENV that scripts read, as JavaScript
// strings, shared by the program's VUs. Safe for concurrent use.
type envValues struct {
	mu   sync.RWMutex
	vals map[string]sobek.Value
}

// value returns s as a JavaScript string, made on its first use.
func (ev *envValues) value(s string) sobek.Value {
	ev.mu.RLock()
	v, ok := ev.vals[s]
	ev.mu.RUnlock()
	if ok {
		return v
	}
	// Not rt.ToValue(s): a long string would be sobek's importedString,
	// which scans itself on first use, a write other VUs would race with.
	v = sobek.StringFromUTF16(utf16.Encode([]rune(s)))
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.vals == nil {
		ev.vals = make(map[string]sobek.Value)
	}
	ev.vals[s] = v
	return v
}

func (e *envObject) Get(key string) sobek.Value {
	if v, ok := e.own[key]; ok {
		return v
	}
	s, ok := e.base[key]
	if !ok {
		return nil
	}
	return e.vals.value(s)
}

func (e *envObject) Set(key string, v sobek.Value) bool {
	if e.own == nil {
		e.own = make(map[string]sobek.Value, 1)
	}
	e.own[key] = v
	return true
}

func (e *envObject) Has(key string) bool { return e.Get(key) != nil }

func (e *envObject) Delete(key string) bool {
	if e.Has(key) {
		e.Set(key, nil)
	}
	return true
}

// Keys returns the variables in name order.
func (e *envObject) Keys() []string {
	keys := make([]string, 0, len(e.base)+len(e.own))
	for k := range e.base {
		if v, set := e.own[k]; !set || v != nil {
			keys = append(keys, k)
		}
	}
	for k, v := range e.own {
		if _, inBase := e.base[k]; !inBase && v != nil {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// console returns the console object: each method logs its arguments,
// joined by spaces (objects as JSON), with source=console.
func (vu *VU) console() *sobek.Object {
	o := vu.rt.NewObject()
	for name, level := range map[string]slog.Level{
		"log": slog.LevelInfo, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
		"debug": slog.LevelDebug, "trace": slog.LevelDebug,
	} {
		_ = o.Set(name, func(call sobek.FunctionCall) sobek.Value {
			vu.prog.logger.Log(vu.ctxOrBackground(), level, vu.format(call.Arguments), "source", "console")
			return sobek.Undefined()
		})
	}
	return o
}

// format joins values as console.log shows them.
func (vu *VU) format(args []sobek.Value) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vu.display(a))
	}
	return b.String()
}

// display is one value as console.log shows it: strings as they are,
// objects as JSON when they can be.
func (vu *VU) display(v sobek.Value) string {
	o, ok := v.(*sobek.Object)
	if !ok || o.ClassName() == "Function" || o.ClassName() == "Error" {
		return v.String()
	}
	if s, err := vu.stringify(v); err == nil && s != nil {
		return string(s)
	}
	return v.String()
}

// open implements open(path, mode): a file read once per program, as a
// string, or with mode "b" as an ArrayBuffer (a copy per call: buffers
// are mutable).
func (vu *VU) open(call sobek.FunctionCall) sobek.Value {
	vu.mustInit("open()")
	name := call.Argument(0).String()
	if name == "" {
		vu.typeErrorf("open(): the path is empty")
	}
	f, err := vu.prog.loader.open(name)
	if err != nil {
		vu.throwf("open(%q): %v", name, err)
	}
	if mode := call.Argument(1); !sobek.IsUndefined(mode) && mode.String() == "b" {
		return vu.rt.ToValue(vu.rt.NewArrayBuffer(bytes.Clone(f.data)))
	}
	return vu.rt.ToValue(f.text())
}

// textEncoder is the TextEncoder constructor (UTF-8 only, as the standard).
func (vu *VU) textEncoder(call sobek.ConstructorCall) *sobek.Object {
	o := call.This
	_ = o.Set("encoding", "utf-8")
	_ = o.Set("encode", func(c sobek.FunctionCall) sobek.Value {
		s := ""
		if a := c.Argument(0); !sobek.IsUndefined(a) {
			s = a.String()
		}
		return vu.uint8Array([]byte(s))
	})
	return nil
}

// textDecoder is the TextDecoder constructor for "utf-8" (the labels
// "utf8" and "unicode-1-1-utf-8" too), with the fatal and ignoreBOM
// options.
func (vu *VU) textDecoder(call sobek.ConstructorCall) *sobek.Object {
	label := "utf-8"
	if a := call.Argument(0); !sobek.IsUndefined(a) {
		label = strings.ToLower(strings.TrimSpace(a.String()))
	}
	switch label {
	case "utf-8", "utf8", "unicode-1-1-utf-8":
		label = "utf-8"
	default:
		panic(vu.rt.NewTypeError(fmt.Sprintf("TextDecoder: unsupported encoding %q (only utf-8)", label)))
	}
	var fatal, ignoreBOM bool
	if o, ok := call.Argument(1).(*sobek.Object); ok {
		fatal = o.Get("fatal") != nil && o.Get("fatal").ToBoolean()
		ignoreBOM = o.Get("ignoreBOM") != nil && o.Get("ignoreBOM").ToBoolean()
	}
	o := call.This
	_ = o.Set("encoding", label)
	_ = o.Set("fatal", fatal)
	_ = o.Set("ignoreBOM", ignoreBOM)
	_ = o.Set("decode", func(c sobek.FunctionCall) sobek.Value {
		a := c.Argument(0)
		if sobek.IsUndefined(a) {
			return vu.rt.ToValue("")
		}
		b, ok := vu.bytesOf(a)
		if !ok {
			vu.typeErrorf("TextDecoder.decode: want an ArrayBuffer or a typed array")
		}
		if !ignoreBOM {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		if fatal && !utf8.Valid(b) {
			vu.typeErrorf("TextDecoder.decode: the data is not valid utf-8")
		}
		return vu.rt.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
	})
	return nil
}

// getRandomValues fills a typed array with random bytes.
func (vu *VU) getRandomValues(call sobek.FunctionCall) sobek.Value {
	a := call.Argument(0)
	b, ok := vu.bytesOf(a)
	if !ok {
		vu.typeErrorf("crypto.getRandomValues: want a typed array")
	}
	if len(b) > 65536 {
		vu.throwf("crypto.getRandomValues: %d bytes is more than 65536", len(b))
	}
	_, _ = rand.Read(b)
	return a
}

// randomUUID returns a version 4 UUID.
func randomUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}
