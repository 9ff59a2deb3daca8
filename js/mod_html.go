package js

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/grafana/sobek"
	"golang.org/x/net/html"
)

// k6/html on goquery (jQuery-like selections over golang.org/x/net/html)
// and cascadia (its CSS selectors), rather than a selector engine of our
// own. As in k6, a Selection's and an Element's API are methods, also the
// DOM-like ones (el.textContent(), el.nodeName()).

func htmlModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"parseHTML": func(src string) *htmlSelection { return vu.parseHTML(src, "") },
	}}, nil
}

// parseHTML parses a document; base resolves links (a response's URL).
func (vu *VU) parseHTML(src, base string) *htmlSelection {
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(src))
	if err != nil {
		vu.throwError(err)
	}
	return &htmlSelection{vu: vu, sel: doc.Selection, base: base}
}

// htmlSelection is k6/html's Selection.
type htmlSelection struct {
	vu   *VU
	sel  *goquery.Selection
	base string
}

func (s *htmlSelection) wrap(sel *goquery.Selection) *htmlSelection {
	return &htmlSelection{vu: s.vu, sel: sel, base: s.base}
}

func (s *htmlSelection) element(n *html.Node) *htmlElement {
	return &htmlElement{s: s, n: n}
}

// Find, and the other traversals, take a CSS selector.
func (s *htmlSelection) Find(sel string) *htmlSelection { return s.wrap(s.sel.Find(sel)) }

// Text is the text of every element, joined.
func (s *htmlSelection) Text() string { return s.sel.Text() }

// Html is the first element's inner HTML, undefined for none.
func (s *htmlSelection) Html() sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	h, err := s.sel.Html()
	if err != nil {
		s.vu.throwError(err)
	}
	return s.vu.rt.ToValue(h)
}

// Attr is the first element's attribute, or def (undefined) without one.
func (s *htmlSelection) Attr(name string, def ...sobek.Value) sobek.Value {
	if v, ok := s.sel.Attr(name); ok {
		return s.vu.rt.ToValue(v)
	}
	if len(def) > 0 {
		return def[0]
	}
	return sobek.Undefined()
}

// Val is the value of the first form control: an input's value, a
// textarea's text, a select's selected option(s).
func (s *htmlSelection) Val() sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	return s.vu.rt.ToValue(controlValue(s.sel.First()))
}

// controlValue is a form control's value: a string, or the strings of a
// multiple select.
func controlValue(sel *goquery.Selection) any {
	switch goquery.NodeName(sel) {
	case "select":
		opts := sel.Find("option[selected]")
		_, multiple := sel.Attr("multiple")
		if multiple {
			vals := []string{}
			opts.Each(func(_ int, o *goquery.Selection) { vals = append(vals, optionValue(o)) })
			return vals
		}
		if opts.Length() == 0 {
			opts = sel.Find("option")
		}
		if opts.Length() == 0 {
			return ""
		}
		return optionValue(opts.First())
	case "textarea":
		return sel.Text()
	case "option":
		return optionValue(sel)
	}
	if v, ok := sel.Attr("value"); ok {
		return v
	}
	switch strings.ToLower(sel.AttrOr("type", "")) {
	case "checkbox", "radio":
		return "on"
	}
	return ""
}

func optionValue(o *goquery.Selection) string {
	if v, ok := o.Attr("value"); ok {
		return v
	}
	return o.Text()
}

func (s *htmlSelection) Children(sel ...string) *htmlSelection {
	if len(sel) > 0 {
		return s.wrap(s.sel.ChildrenFiltered(sel[0]))
	}
	return s.wrap(s.sel.Children())
}

func (s *htmlSelection) Contents() *htmlSelection { return s.wrap(s.sel.Contents()) }

// Each calls fn(index, element) for each element.
func (s *htmlSelection) Each(fn sobek.Callable) {
	for i, n := range s.sel.Nodes {
		if _, err := fn(sobek.Undefined(), s.vu.rt.ToValue(i), s.vu.rt.ToValue(s.element(n))); err != nil {
			s.vu.throwError(err)
		}
	}
}

// Map calls fn(index, selection) for each element and returns what it
// returned (undefined as null), as k6: an exception in fn gives [].
func (s *htmlSelection) Map(fn sobek.Callable) []sobek.Value {
	out := []sobek.Value{}
	for i := range s.sel.Nodes {
		v, err := fn(sobek.Undefined(), s.vu.rt.ToValue(i), s.vu.rt.ToValue(s.wrap(s.sel.Eq(i))))
		if err != nil {
			return []sobek.Value{}
		}
		if isNullish(v) {
			v = sobek.Null()
		}
		out = append(out, v)
	}
	return out
}

func (s *htmlSelection) Eq(i int) *htmlSelection       { return s.wrap(s.sel.Eq(i)) }
func (s *htmlSelection) First() *htmlSelection         { return s.wrap(s.sel.First()) }
func (s *htmlSelection) Last() *htmlSelection          { return s.wrap(s.sel.Last()) }
func (s *htmlSelection) Size() int                     { return s.sel.Length() }
func (s *htmlSelection) Is(sel sobek.Value) bool       { return s.filtered(sel).Length() > 0 }
func (s *htmlSelection) Has(sel string) *htmlSelection { return s.wrap(s.sel.Has(sel)) }

// Get is the element at index i (negative from the end), or every
// element without an index.
func (s *htmlSelection) Get(i ...int) sobek.Value {
	if len(i) == 0 {
		els := make([]*htmlElement, len(s.sel.Nodes))
		for k, n := range s.sel.Nodes {
			els[k] = s.element(n)
		}
		return s.vu.rt.ToValue(els)
	}
	k := i[0]
	if k < 0 {
		k += len(s.sel.Nodes)
	}
	if k < 0 || k >= len(s.sel.Nodes) {
		return sobek.Undefined()
	}
	return s.vu.rt.ToValue(s.element(s.sel.Nodes[k]))
}

// ToArray is a Selection per element.
func (s *htmlSelection) ToArray() []*htmlSelection {
	out := make([]*htmlSelection, s.sel.Length())
	for i := range out {
		out[i] = s.wrap(s.sel.Eq(i))
	}
	return out
}

// filtered keeps the elements a selector, a function(index, element) or
// a Selection matches.
func (s *htmlSelection) filtered(f sobek.Value) *goquery.Selection {
	if fn, ok := sobek.AssertFunction(f); ok {
		return s.sel.FilterFunction(func(i int, sel *goquery.Selection) bool {
			v, err := fn(sobek.Undefined(), s.vu.rt.ToValue(i), s.vu.rt.ToValue(s.element(sel.Nodes[0])))
			if err != nil {
				s.vu.throwError(err)
			}
			return v.ToBoolean()
		})
	}
	if o, ok := f.(*sobek.Object); ok {
		if other, ok := o.Export().(*htmlSelection); ok {
			return s.sel.FilterSelection(other.sel)
		}
	}
	return s.sel.Filter(f.String())
}

func (s *htmlSelection) Filter(f sobek.Value) *htmlSelection { return s.wrap(s.filtered(f)) }

func (s *htmlSelection) Not(f sobek.Value) *htmlSelection {
	keep := s.filtered(f)
	return s.wrap(s.sel.FilterFunction(func(_ int, sel *goquery.Selection) bool { return !slices.Contains(keep.Nodes, sel.Nodes[0]) }))
}

// optional applies a traversal, filtered by a selector when one is given.
func optional(all *goquery.Selection, sel []string) *goquery.Selection {
	if len(sel) > 0 && sel[0] != "" {
		return all.Filter(sel[0])
	}
	return all
}

func (s *htmlSelection) Next(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.Next(), sel))
}
func (s *htmlSelection) NextAll(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.NextAll(), sel))
}
func (s *htmlSelection) Prev(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.Prev(), sel))
}
func (s *htmlSelection) PrevAll(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.PrevAll(), sel))
}
func (s *htmlSelection) Parent(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.Parent(), sel))
}
func (s *htmlSelection) Parents(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.Parents(), sel))
}
func (s *htmlSelection) Siblings(sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.Siblings(), sel))
}

func (s *htmlSelection) NextUntil(until string, sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.NextUntil(until), sel))
}

func (s *htmlSelection) PrevUntil(until string, sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.PrevUntil(until), sel))
}

func (s *htmlSelection) ParentsUntil(until string, sel ...string) *htmlSelection {
	return s.wrap(optional(s.sel.ParentsUntil(until), sel))
}

func (s *htmlSelection) Closest(sel string) *htmlSelection { return s.wrap(s.sel.Closest(sel)) }

// Slice is the elements from start to end (exclusive; negative from the
// end).
func (s *htmlSelection) Slice(start int, end ...int) *htmlSelection {
	n := s.sel.Length()
	e := n
	if len(end) > 0 {
		e = end[0]
	}
	if start < 0 {
		start += n
	}
	if e < 0 {
		e += n
	}
	start, e = max(0, min(start, n)), max(0, min(e, n))
	if start >= e {
		return s.wrap(s.sel.Slice(0, 0))
	}
	return s.wrap(s.sel.Slice(start, e))
}

func (s *htmlSelection) Add(sel string) *htmlSelection { return s.wrap(s.sel.Add(sel)) }

// Data is the first element's data-* attributes (values parsed as JSON
// where they are, keys in camelCase), or one of them.
func (s *htmlSelection) Data(key ...string) sobek.Value {
	if s.sel.Length() == 0 {
		return sobek.Undefined()
	}
	data := s.vu.rt.NewObject()
	for _, a := range s.sel.Nodes[0].Attr {
		if name, ok := strings.CutPrefix(a.Key, "data-"); ok {
			_ = data.Set(camelCase(name), dataValue(a.Val))
		}
	}
	if len(key) > 0 {
		if v := data.Get(camelCase(key[0])); v != nil {
			return v
		}
		return sobek.Undefined()
	}
	return data
}

func camelCase(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// dataValue reads a data attribute as jQuery does: JSON when it is.
func dataValue(v string) any {
	var x any
	if (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") || v == "true" || v == "false" || v == "null") && json.Unmarshal([]byte(v), &x) == nil {
		return x
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == v {
		return f
	}
	return v
}

// formFields are the named controls of the selected forms (or the
// selected controls) that k6 serializes, in document order: inputs other
// than checkboxes, radios and buttons, selects and textareas.
func (s *htmlSelection) formFields() []formField {
	var out []formField
	controls := s.sel.Find("input,select,textarea").AddSelection(s.sel.Filter("input,select,textarea"))
	controls.Each(func(_ int, c *goquery.Selection) {
		name, ok := c.Attr("name")
		if !ok || name == "" {
			return
		}
		if goquery.NodeName(c) == "input" {
			switch strings.ToLower(c.AttrOr("type", "text")) {
			case "checkbox", "radio", "submit", "button", "reset", "image", "file":
				return
			}
		}
		out = append(out, formField{name, controlValue(c)})
	})
	return out
}

type formField struct {
	name  string
	value any // string, or []string for a multiple select
}

// Serialize is the form as a URL-encoded query, keys sorted.
func (s *htmlSelection) Serialize() string {
	v := url.Values{}
	for _, f := range s.formFields() {
		switch x := f.value.(type) {
		case []string:
			v[f.name] = append(v[f.name], x...)
		case string:
			v.Add(f.name, x)
		}
	}
	return v.Encode()
}

// SerializeArray is the form as [{name, value}].
func (s *htmlSelection) SerializeArray() []*sobek.Object {
	out := []*sobek.Object{}
	for _, f := range s.formFields() {
		o := s.vu.rt.NewObject()
		_ = o.Set("name", f.name)
		_ = o.Set("value", f.value)
		out = append(out, o)
	}
	return out
}

// SerializeObject is the form as {name: value}.
func (s *htmlSelection) SerializeObject() *sobek.Object {
	out := s.vu.rt.NewObject()
	for _, f := range s.formFields() {
		_ = out.Set(f.name, f.value)
	}
	return out
}

// htmlElement is k6/html's Element: one node of a parsed document.
type htmlElement struct {
	s *htmlSelection
	n *html.Node
}

func (e *htmlElement) sel() *goquery.Selection { return goquery.NewDocumentFromNode(e.n).Selection }

func (e *htmlElement) node(n *html.Node) sobek.Value {
	if n == nil {
		return sobek.Null()
	}
	return e.s.vu.rt.ToValue(e.s.element(n))
}

func (e *htmlElement) nodes(ns []*html.Node) []*htmlElement {
	out := make([]*htmlElement, 0, len(ns))
	for _, n := range ns {
		out = append(out, e.s.element(n))
	}
	return out
}

func (e *htmlElement) attr(name string) string {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// NodeName is the lower-case tag name, or #text, #comment, #document.
func (e *htmlElement) NodeName() string {
	switch e.n.Type {
	case html.TextNode:
		return "#text"
	case html.CommentNode:
		return "#comment"
	case html.DocumentNode:
		return "#document"
	}
	return strings.ToLower(e.n.Data)
}

// NodeType is the DOM's: 1 element, 3 text, 8 comment, 9 document.
func (e *htmlElement) NodeType() int {
	switch e.n.Type {
	case html.TextNode:
		return 3
	case html.CommentNode:
		return 8
	case html.DocumentNode:
		return 9
	case html.DoctypeNode:
		return 10
	}
	return 1
}

func (e *htmlElement) NodeValue() sobek.Value {
	if e.n.Type == html.TextNode || e.n.Type == html.CommentNode {
		return e.s.vu.rt.ToValue(e.n.Data)
	}
	return sobek.Null()
}

func (e *htmlElement) TextContent() string { return e.sel().Text() }

func (e *htmlElement) InnerHTML() string {
	h, _ := e.sel().Html()
	return h
}

func (e *htmlElement) Id() string        { return e.attr("id") }
func (e *htmlElement) ClassName() string { return e.attr("class") }
func (e *htmlElement) Lang() string      { return e.attr("lang") }
func (e *htmlElement) Name() string      { return e.attr("name") }
func (e *htmlElement) ClassList() []string {
	return strings.Fields(e.attr("class"))
}

// Attributes are the element's attributes by name: {name, value}.
func (e *htmlElement) Attributes() *sobek.Object {
	rt := e.s.vu.rt
	out := rt.NewObject()
	for _, a := range e.n.Attr {
		o := rt.NewObject()
		_ = o.Set("owner_element", e)
		_ = o.Set("name", a.Key)
		_ = o.Set("value", a.Val)
		_ = out.Set(a.Key, o)
	}
	return out
}

func (e *htmlElement) GetAttribute(name string) sobek.Value {
	for _, a := range e.n.Attr {
		if a.Key == name {
			return e.s.vu.rt.ToValue(a.Val)
		}
	}
	return sobek.Undefined()
}

func (e *htmlElement) HasAttribute(name string) bool {
	return slices.ContainsFunc(e.n.Attr, func(a html.Attribute) bool { return a.Key == name })
}

func (e *htmlElement) HasAttributes() bool { return len(e.n.Attr) > 0 }
func (e *htmlElement) HasChildNodes() bool { return e.n.FirstChild != nil }

func (e *htmlElement) ChildNodes() []*htmlElement {
	var ns []*html.Node
	for c := e.n.FirstChild; c != nil; c = c.NextSibling {
		ns = append(ns, c)
	}
	return e.nodes(ns)
}

func (e *htmlElement) Children() []*htmlElement { return e.nodes(e.sel().Children().Nodes) }

func (e *htmlElement) ChildElementCount() int { return e.sel().Children().Length() }

func (e *htmlElement) FirstChild() sobek.Value { return e.node(e.n.FirstChild) }
func (e *htmlElement) LastChild() sobek.Value  { return e.node(e.n.LastChild) }
func (e *htmlElement) FirstElementChild() sobek.Value {
	return e.node(first(e.sel().Children().Nodes))
}

func (e *htmlElement) LastElementChild() sobek.Value {
	ns := e.sel().Children().Nodes
	if len(ns) == 0 {
		return sobek.Null()
	}
	return e.node(ns[len(ns)-1])
}

func first(ns []*html.Node) *html.Node {
	if len(ns) == 0 {
		return nil
	}
	return ns[0]
}

func (e *htmlElement) ParentNode() sobek.Value      { return e.node(e.n.Parent) }
func (e *htmlElement) ParentElement() sobek.Value   { return e.node(first(e.sel().Parent().Nodes)) }
func (e *htmlElement) NextSibling() sobek.Value     { return e.node(e.n.NextSibling) }
func (e *htmlElement) PreviousSibling() sobek.Value { return e.node(e.n.PrevSibling) }
func (e *htmlElement) NextElementSibling() sobek.Value {
	return e.node(first(e.sel().Next().Nodes))
}

func (e *htmlElement) PreviousElementSibling() sobek.Value {
	return e.node(first(e.sel().Prev().Nodes))
}

func (e *htmlElement) OwnerDocument() sobek.Value {
	n := e.n
	for n.Parent != nil {
		n = n.Parent
	}
	return e.node(n)
}

func (e *htmlElement) QuerySelector(sel string) sobek.Value {
	return e.node(first(e.sel().Find(sel).Nodes))
}

func (e *htmlElement) QuerySelectorAll(sel string) []*htmlElement {
	return e.nodes(e.sel().Find(sel).Nodes)
}

func (e *htmlElement) GetElementsByTagName(tag string) []*htmlElement {
	return e.nodes(e.sel().Find(tag).Nodes)
}

func (e *htmlElement) GetElementsByClassName(class string) []*htmlElement {
	return e.nodes(e.sel().Find("." + strings.Join(strings.Fields(class), ".")).Nodes)
}

func (e *htmlElement) Matches(sel string) bool { return e.sel().Is(sel) }

func (e *htmlElement) Contains(other *htmlElement) bool {
	for n := other.n; n != nil; n = n.Parent {
		if n == e.n {
			return true
		}
	}
	return false
}

func (e *htmlElement) IsSameNode(other *htmlElement) bool { return other != nil && other.n == e.n }

func (e *htmlElement) IsEqualNode(other *htmlElement) bool {
	if other == nil {
		return false
	}
	a, _ := goquery.OuterHtml(e.sel())
	b, _ := goquery.OuterHtml(other.sel())
	return a == b
}

// Selection is the element as a Selection.
func (e *htmlElement) Selection() *htmlSelection { return e.s.wrap(e.sel()) }

// ToString is an anchor's href, as the DOM's.
func (e *htmlElement) ToString() string {
	if e.NodeName() == "a" {
		return e.Href()
	}
	return "[object HTML" + strings.ToUpper(e.NodeName()[:min(1, len(e.NodeName()))]) + e.NodeName()[min(1, len(e.NodeName())):] + "Element]"
}

// Href is a link's href, resolved against the response's URL.
func (e *htmlElement) Href() string {
	h := e.attr("href")
	if e.s.base == "" {
		return h
	}
	b, err := url.Parse(e.s.base)
	if err != nil {
		return h
	}
	r, err := url.Parse(h)
	if err != nil {
		return h
	}
	return b.ResolveReference(r).String()
}

func (e *htmlElement) hrefURL() *url.URL {
	u, err := url.Parse(e.Href())
	if err != nil {
		return &url.URL{}
	}
	return u
}

func (e *htmlElement) Protocol() string { return e.hrefURL().Scheme + ":" }
func (e *htmlElement) Host() string     { return e.hrefURL().Host }
func (e *htmlElement) Hostname() string { return e.hrefURL().Hostname() }
func (e *htmlElement) Port() string     { return e.hrefURL().Port() }
func (e *htmlElement) Pathname() string { return e.hrefURL().Path }
func (e *htmlElement) Search() string {
	if q := e.hrefURL().RawQuery; q != "" {
		return "?" + q
	}
	return ""
}

func (e *htmlElement) Hash() string {
	if f := e.hrefURL().Fragment; f != "" {
		return "#" + f
	}
	return ""
}

// Text is an anchor's or option's text.
func (e *htmlElement) Text() string { return e.TextContent() }

// Value is a form control's value.
func (e *htmlElement) Value() sobek.Value { return e.s.vu.rt.ToValue(controlValue(e.sel())) }

func (e *htmlElement) Type() string {
	if t := e.attr("type"); t != "" {
		return strings.ToLower(t)
	}
	switch e.NodeName() {
	case "input":
		return "text"
	case "button":
		return "submit"
	}
	return ""
}

func (e *htmlElement) Checked() bool  { return e.HasAttribute("checked") }
func (e *htmlElement) Selected() bool { return e.HasAttribute("selected") }
func (e *htmlElement) Disabled() bool { return e.HasAttribute("disabled") }
func (e *htmlElement) Multiple() bool { return e.HasAttribute("multiple") }
func (e *htmlElement) Action() string { return e.attr("action") }
func (e *htmlElement) Method() string {
	if m := e.attr("method"); m != "" {
		return strings.ToLower(m)
	}
	return "get"
}
