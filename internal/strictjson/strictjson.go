// Package strictjson decodes JSON that people write, reporting every problem
// at once.
//
// It decodes test files, k6 config files and API bodies strictly, each
// problem with its JSON path, line and column: a syntax error, every unknown
// field, every value of the wrong type. encoding/json stops at the first
// problem and names Go types ("cannot unmarshal string into Go struct field
// TestSpec.virtual_users of type int64"); this package says `virtual_users:
// want an integer, got the string "two" (line 4, column 20)`.
//
// It walks the document's tokens alongside the Go type it decodes into,
// then lets encoding/json do the decoding itself, so the result is what
// json.Unmarshal gives. Types with their own UnmarshalJSON are decoded by
// it; their errors are reported at the value's position.
//
// It imports only the standard library.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Problem is one thing wrong with a document.
type Problem struct {
	// Path is the JSON path of the value, e.g. "target.endpoints[1].path";
	// "" is the whole document.
	Path string
	// Offset is the byte offset of the value (or of an unknown field's
	// name) in the document; Line and Column (1-based, in characters) are
	// where it is.
	Offset       int64
	Line, Column int
	Msg          string
}

// Error is "path: message", or the message alone.
func (p *Problem) Error() string {
	if p.Path == "" {
		return p.Message()
	}
	return p.Path + ": " + p.Message()
}

// Message is what is wrong and where: "unknown field (line 5, column 3)".
func (p *Problem) Message() string {
	if p.Line == 0 {
		return p.Msg
	}
	return fmt.Sprintf("%s (line %d, column %d)", p.Msg, p.Line, p.Column)
}

// Decode decodes the JSON document src into v, a non-nil pointer, as
// json.Unmarshal does, but reports unknown fields, values of the wrong
// type, syntax errors and data after the value, all at once as *Problem
// errors joined with errors.Join. v is left unchanged when there is a
// problem.
func Decode(src []byte, v any) error {
	return decode(src, Member{Value: src}, "", v)
}

// A Member is a member of a JSON object: its name, its value and the
// value's offset in the document.
type Member struct {
	Name   string
	Value  json.RawMessage
	Offset int64
}

// Members returns the members of the JSON object src in their order, or a
// *Problem when src is not a JSON object (with its syntax error, if any).
// Decode a member with [DecodeMember] to have its problems' positions in src.
func Members(src []byte) ([]Member, error) {
	if p := syntaxProblem(src); p != nil {
		return nil, p
	}
	dec := newDecoder(src)
	w := &walker{src: src, dec: dec}
	start := w.pos()
	tok, _ := dec.Token()
	if tok != json.Delim('{') {
		return nil, w.problem("", start, fmt.Sprintf("want an object, got %s", describe(tok)))
	}
	var out []Member
	for dec.More() {
		key, _ := dec.Token()
		off := w.pos()
		var raw json.RawMessage
		_ = dec.Decode(&raw) // src is valid JSON
		out = append(out, Member{Name: key.(string), Value: raw, Offset: off})
	}
	return out, nil
}

// DecodeMember decodes m, a member of the document src (from [Members]),
// into v as [Decode] does; its problems' paths start with path and their
// positions are in src.
func DecodeMember(src []byte, m Member, path string, v any) error {
	return decode(src, m, path, v)
}

// Relocate moves the positions of the problems in err, found in a document
// that starts at byte base of src, into src. Errors that are not problems
// are left alone.
func Relocate(err error, src []byte, base int64) {
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *Problem:
			e.Offset += base
			e.Line, e.Column = Position(src, e.Offset)
		case interface{ Unwrap() []error }:
			for _, sub := range e.Unwrap() {
				walk(sub)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
}

// Position returns the 1-based line and column (in characters) of byte
// offset off in src.
func Position(src []byte, off int64) (line, column int) {
	off = min(max(off, 0), int64(len(src)))
	before := src[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, 1 + utf8.RuneCount(before)
}

func decode(src []byte, m Member, path string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: decode into %T, want a non-nil pointer", v)
	}
	doc := []byte(m.Value)
	if p := syntaxProblem(doc); p != nil {
		Relocate(p, src, m.Offset)
		p.Path = path
		return p
	}
	w := &walker{src: doc, dec: newDecoder(doc), base: m.Offset, whole: src}
	w.value(rv.Type().Elem(), path)
	if len(w.problems) > 0 {
		return errors.Join(w.problems...)
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return w.problem(path, w.pos(), err.Error())
	}
	return nil
}

// syntaxProblem returns the syntax error of doc, if any, at its position.
func syntaxProblem(doc []byte) *Problem {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var v any
	err := dec.Decode(&v)
	if err == nil {
		off := dec.InputOffset()
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		off += int64(len(doc[off:]) - len(bytes.TrimLeft(doc[off:], " \t\r\n")))
		line, col := Position(doc, off)
		return &Problem{Offset: off, Line: line, Column: col, Msg: "unexpected data after the JSON value"}
	}
	off := int64(len(doc))
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		off = max(se.Offset-1, 0)
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF // an empty document
	}
	line, col := Position(doc, off)
	return &Problem{Offset: off, Line: line, Column: col, Msg: err.Error()}
}

func newDecoder(doc []byte) *json.Decoder {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return dec
}

// walker reads a valid JSON document's tokens alongside a Go type and
// collects the problems.
type walker struct {
	src      []byte
	dec      *json.Decoder
	problems []error
	// base is src's offset in whole, the document positions are in.
	base  int64
	whole []byte
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// value checks the next value against t.
func (w *walker) value(t reflect.Type, path string) {
	start := w.pos()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		var raw json.RawMessage
		_ = w.dec.Decode(&raw)
		if string(raw) == "null" {
			return
		}
		if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
			w.custom(path, start, err)
		}
		return
	}
	if t.Kind() == reflect.Interface {
		var raw json.RawMessage
		_ = w.dec.Decode(&raw)
		return
	}
	tok, _ := w.dec.Token()
	if tok == nil {
		return // null leaves any Go value as it is
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			w.wrongType(path, start, "an object", tok)
			return
		}
		fields := fieldsOf(t)
		for w.dec.More() {
			keyAt := w.pos()
			key, _ := w.dec.Token()
			name := key.(string)
			f, ok := lookup(fields, name)
			if !ok {
				w.problems = append(w.problems, w.problem(join(path, name), keyAt, "unknown field"))
				w.skip()
				continue
			}
			w.value(f.typ, join(path, name))
		}
		_, _ = w.dec.Token()
	case reflect.Map:
		if tok != json.Delim('{') {
			w.wrongType(path, start, "an object", tok)
			return
		}
		for w.dec.More() {
			key, _ := w.dec.Token()
			w.value(t.Elem(), join(path, key.(string)))
		}
		_, _ = w.dec.Token()
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
			if _, ok := tok.(string); !ok {
				w.wrongType(path, start, "a base64 string", tok)
			}
			return
		}
		if tok != json.Delim('[') {
			w.wrongType(path, start, "an array", tok)
			return
		}
		for i := 0; w.dec.More(); i++ {
			w.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		_, _ = w.dec.Token()
	case reflect.String:
		if _, ok := tok.(string); !ok {
			w.wrongType(path, start, "a string", tok)
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			w.wrongType(path, start, "true or false", tok)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); !ok || err != nil {
			w.wrongType(path, start, fmt.Sprintf("an integer (%d-bit)", t.Bits()), tok)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := tok.(json.Number)
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); !ok || err != nil {
			w.wrongType(path, start, fmt.Sprintf("an integer >= 0 (%d-bit)", t.Bits()), tok)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if _, err := strconv.ParseFloat(string(n), t.Bits()); !ok || err != nil {
			w.wrongType(path, start, "a number", tok)
		}
	default:
		w.problems = append(w.problems, w.problem(path, start, fmt.Sprintf("a %s cannot be decoded from JSON", t)))
		w.skipRest(tok)
	}
}

// custom reports the error of a type's own UnmarshalJSON: each of a joined
// error's problems on its own.
func (w *walker) custom(path string, at int64, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		msg := e.Error()
		var te *json.UnmarshalTypeError
		if errors.As(e, &te) {
			msg = fmt.Sprintf("want %s, got %s", kindOf(te.Type), article(te.Value))
			if te.Field != "" {
				msg = te.Field + ": " + msg
			}
		}
		w.problems = append(w.problems, w.problem(path, at, msg))
	}
}

func (w *walker) wrongType(path string, at int64, want string, tok json.Token) {
	w.problems = append(w.problems, w.problem(path, at, fmt.Sprintf("want %s, got %s", want, describe(tok))))
	w.skipRest(tok)
}

// skip consumes the next value.
func (w *walker) skip() {
	tok, _ := w.dec.Token()
	w.skipRest(tok)
}

// skipRest consumes the rest of a value whose first token was tok.
func (w *walker) skipRest(tok json.Token) {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return
	}
	for depth := 1; depth > 0; {
		t, err := w.dec.Token()
		if err != nil {
			return
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
}

// pos is the offset of the next token: the decoder's, past blanks and
// separators.
func (w *walker) pos() int64 {
	off := w.dec.InputOffset()
	for off < int64(len(w.src)) && strings.IndexByte(" \t\r\n,:", w.src[off]) >= 0 {
		off++
	}
	return off
}

func (w *walker) problem(path string, at int64, msg string) *Problem {
	whole, off := w.whole, w.base+at
	if whole == nil {
		whole = w.src
	}
	line, col := Position(whole, off)
	return &Problem{Path: path, Offset: off, Line: line, Column: col, Msg: msg}
}

// describe names a value by its first token: `the string "two"`, `an
// object`.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	case bool:
		return fmt.Sprintf("%t", v)
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	}
	return fmt.Sprint(tok)
}

// kindOf names the JSON a Go type takes.
func kindOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// article puts an article before encoding/json's name of a JSON value
// ("string", "number 1.5", "object").
func article(v string) string {
	switch {
	case v == "array" || v == "object":
		return "an " + v
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number") || strings.HasPrefix(v, "string"):
		return "a " + v
	}
	return v
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

type field struct {
	name string
	typ  reflect.Type
}

// fieldsOf lists the JSON fields of struct type t as encoding/json sees
// them: exported fields by tag or Go name, embedded structs' fields
// promoted, "-" left out.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if sf.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, fieldsOf(et)...)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out = append(out, field{name: name, typ: ft})
	}
	return out
}

// lookup finds a field by name, exactly or else without regard to case,
// as encoding/json does.
func lookup(fields []field, name string) (field, bool) {
	for _, f := range fields {
		if f.name == name {
			return f, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return field{}, false
}
