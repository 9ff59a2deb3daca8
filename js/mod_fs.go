package js

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"

	"github.com/grafana/sobek"
)

// k6/experimental/fs and k6/experimental/csv: files opened in the init
// context through the script's file system (read once per program, as
// open() does), each VU with its own read offset. Their methods return
// promises, settled at once.

func fsModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"open":     vu.fsOpen,
		"SeekMode": map[string]int{"Start": io.SeekStart, "Current": io.SeekCurrent, "End": io.SeekEnd},
	}}, nil
}

// jsFile is a File of k6/experimental/fs.
type jsFile struct {
	vu   *VU
	name string
	data []byte
	off  int64
}

// fsError is the rejection of a failed fs call: an Error with k6's name.
func (vu *VU) fsError(name, msg string) sobek.Value {
	e, _ := vu.rt.New(vu.rt.Get("Error"), vu.rt.ToValue(msg))
	_ = e.Set("name", name)
	return e
}

// settled returns a promise settled at once.
func (vu *VU) settled(v any, reason sobek.Value) *sobek.Promise {
	p, resolve, reject := vu.rt.NewPromise()
	if reason != nil {
		_ = reject(reason)
	} else {
		_ = resolve(v)
	}
	return p
}

// fsOpen is open(path): a promise of a File.
func (vu *VU) fsOpen(call sobek.FunctionCall) sobek.Value {
	if !vu.init {
		return vu.rt.ToValue(vu.settled(nil, vu.fsError("ForbiddenError", "open() failed; reason: opening a file is allowed only in the Init context")))
	}
	name := call.Argument(0).String()
	if name == "" {
		return vu.rt.ToValue(vu.settled(nil, vu.fsError("TypeError", "open() failed; reason: the path is empty")))
	}
	f, err := vu.prog.loader.open(name)
	if err != nil {
		kind := "Error"
		if errors.Is(err, fs.ErrNotExist) {
			kind = "NotFoundError"
		}
		return vu.rt.ToValue(vu.settled(nil, vu.fsError(kind, fmt.Sprintf("no such file or directory %q", name))))
	}
	file := &jsFile{vu: vu, name: path.Base(name), data: f.data}
	return vu.rt.ToValue(vu.settled(file.object(), nil))
}

func (f *jsFile) object() *sobek.Object {
	rt := f.vu.rt
	o := rt.NewObject()
	_ = o.Set("path", f.name)
	_ = o.Set("stat", func() *sobek.Promise {
		st := rt.NewObject()
		_ = st.Set("name", f.name)
		_ = st.Set("size", len(f.data))
		return f.vu.settled(st, nil)
	})
	_ = o.Set("read", func(buf sobek.Value) *sobek.Promise {
		b, ok := f.vu.bytesOf(buf)
		if !ok {
			return f.vu.settled(nil, f.vu.fsError("TypeError", "read() failed; reason: the buffer must be an ArrayBuffer or a typed array"))
		}
		if f.off >= int64(len(f.data)) {
			return f.vu.settled(sobek.Null(), nil)
		}
		n := copy(b, f.data[f.off:])
		f.off += int64(n)
		return f.vu.settled(n, nil)
	})
	_ = o.Set("seek", func(offset int64, whence int) *sobek.Promise {
		var base int64
		switch whence {
		case io.SeekStart:
		case io.SeekCurrent:
			base = f.off
		case io.SeekEnd:
			base = int64(len(f.data)) - 1 // k6 v2.2.0 counts from the last byte: seek(-2, End) of 11 bytes is 8
		default:
			return f.vu.settled(nil, f.vu.fsError("TypeError", fmt.Sprintf("seek() failed; reason: invalid whence %d", whence)))
		}
		to := base + offset
		if to < 0 {
			return f.vu.settled(nil, f.vu.fsError("TypeError", "seek() failed; reason: the resulting offset is negative"))
		}
		f.off = to
		return f.vu.settled(to, nil)
	})
	if f.vu.jsFiles == nil {
		f.vu.jsFiles = map[*sobek.Object]*jsFile{}
	}
	f.vu.jsFiles[o] = f
	return o
}

// fileOf returns the File behind a k6/experimental/fs File object.
func (vu *VU) fileOf(v sobek.Value) *jsFile {
	if o, ok := v.(*sobek.Object); ok {
		if f, ok := vu.jsFiles[o]; ok {
			return f
		}
	}
	vu.typeErrorf("want a File of k6/experimental/fs")
	return nil
}

func csvModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"parse":  vu.csvParse,
		"Parser": vu.csvParser,
	}}, nil
}

// csvOptions are the options of csv.parse and csv.Parser.
type csvOptions struct {
	Delimiter     string
	SkipFirstLine bool
	FromLine      *int64
	ToLine        *int64
	AsObjects     bool
}

func (vu *VU) csvOptions(v sobek.Value) csvOptions {
	var o csvOptions
	obj, ok := v.(*sobek.Object)
	if !ok {
		return o
	}
	o.Delimiter = getStr(obj, "delimiter")
	if x := obj.Get("skipFirstLine"); x != nil {
		o.SkipFirstLine = x.ToBoolean()
	}
	if x := obj.Get("asObjects"); x != nil {
		o.AsObjects = x.ToBoolean()
	}
	for _, k := range []struct {
		name string
		dst  **int64
	}{{"fromLine", &o.FromLine}, {"toLine", &o.ToLine}} {
		if x := obj.Get(k.name); !isNullish(x) {
			n := x.ToInteger()
			*k.dst = &n
		}
	}
	return o
}

// csvReader reads records from a File's offset on, as the options say.
type csvReader struct {
	vu     *VU
	r      *csv.Reader
	opts   csvOptions
	header []string
	line   int64 // the next record's line, 0-based
}

func (vu *VU) newCSVReader(f *jsFile, opts csvOptions) (*csvReader, error) {
	r := csv.NewReader(bytes.NewReader(f.data[min(f.off, int64(len(f.data))):]))
	f.off = int64(len(f.data))
	r.FieldsPerRecord = -1
	if opts.Delimiter != "" {
		r.Comma = []rune(opts.Delimiter)[0]
	}
	cr := &csvReader{vu: vu, r: r, opts: opts}
	if opts.AsObjects {
		h, err := r.Read()
		if err != nil {
			return nil, fmt.Errorf("failed to read the header line; reason: %w", err)
		}
		cr.header, cr.line = h, 1
	} else if opts.SkipFirstLine {
		if _, err := r.Read(); err != nil {
			return nil, fmt.Errorf("failed to read the first line; reason: %w", err)
		}
		cr.line = 1
	}
	return cr, nil
}

// next returns the next record in range, or io.EOF.
func (cr *csvReader) next() (sobek.Value, error) {
	for {
		if cr.opts.ToLine != nil && cr.line > *cr.opts.ToLine {
			return nil, io.EOF
		}
		rec, err := cr.r.Read()
		if err != nil {
			return nil, err
		}
		line := cr.line
		cr.line++
		if cr.opts.FromLine != nil && line < *cr.opts.FromLine {
			continue
		}
		return cr.value(rec, false), nil
	}
}

// value is a record as an array, or an object keyed by the header (keys
// sorted when sorted is set, as k6's csv.parse).
func (cr *csvReader) value(rec []string, sorted bool) sobek.Value {
	rt := cr.vu.rt
	if cr.header == nil {
		return rt.ToValue(rec)
	}
	o := rt.NewObject()
	keys := slices.Clone(cr.header)
	if sorted {
		slices.Sort(keys)
	}
	for _, k := range keys {
		i := slices.Index(cr.header, k)
		if i < len(rec) {
			_ = o.Set(k, rec[i])
		}
	}
	return o
}

// csvParse is csv.parse(file, options): a promise of every record.
func (vu *VU) csvParse(file sobek.Value, options sobek.Value) *sobek.Promise {
	f := vu.fileOf(file)
	cr, err := vu.newCSVReader(f, vu.csvOptions(options))
	if err != nil {
		return vu.settled(nil, vu.fsError("Error", "failed to create a new parser; reason: "+err.Error()))
	}
	var rows []sobek.Value
	for {
		rec, err := cr.r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return vu.settled(nil, vu.fsError("Error", "failed to parse the csv file; reason: "+err.Error()))
		}
		line := cr.line
		cr.line++
		if cr.opts.FromLine != nil && line < *cr.opts.FromLine || cr.opts.ToLine != nil && line > *cr.opts.ToLine {
			continue
		}
		rows = append(rows, cr.value(rec, true))
	}
	return vu.settled(vu.rt.NewArray(toAny(rows)...), nil)
}

func toAny(vs []sobek.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// csvParser is new csv.Parser(file, options), in the init context: next()
// gives a promise of {done, value}.
func (vu *VU) csvParser(call sobek.ConstructorCall) *sobek.Object {
	vu.mustInit("csv Parser constructor")
	f := vu.fileOf(call.Argument(0))
	cr, err := vu.newCSVReader(f, vu.csvOptions(call.Argument(1)))
	if err != nil {
		vu.throwf("failed to create a new parser; reason: %v", err)
	}
	_ = call.This.Set("next", func() *sobek.Promise {
		res := vu.rt.NewObject()
		v, err := cr.next()
		switch {
		case errors.Is(err, io.EOF):
			_ = res.Set("done", true)
			_ = res.Set("value", vu.rt.NewArray())
		case err != nil:
			return vu.settled(nil, vu.fsError("Error", "failed to parse the csv file; reason: "+err.Error()))
		default:
			_ = res.Set("done", false)
			_ = res.Set("value", v)
		}
		return vu.settled(res, nil)
	})
	return nil
}
