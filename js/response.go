package js

import (
	"net/http"
	"strings"

	"github.com/grafana/sobek"
	"github.com/tidwall/gjson"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// response is k6's http.Response as the script sees it: properties are
// made when they are read (most scripts read two or three), then kept.
type response struct {
	h     *httpState
	r     *k6http.Response
	rtype k6http.ResponseType

	body, headers, timings, cookies, request, json sobek.Value
	own                                            map[string]sobek.Value // properties the script set
	tim                                            timings                // behind timings: one allocation less a response that reads it
}

var responseKeys = []string{"status", "status_text", "body", "headers", "cookies", "url", "proto", "remote_ip",
	"remote_port", "tls_version", "tls_cipher_suite", "ocsp", "error", "error_code", "request", "timings"}

// Get implements sobek.DynamicObject.
func (r *response) Get(key string) sobek.Value {
	if v, ok := r.own[key]; ok {
		return v
	}
	rt := r.h.vu.rt
	res := r.r
	switch key {
	case "status":
		return rt.ToValue(res.Status)
	case "body":
		if r.body == nil {
			r.body = r.bodyValue()
		}
		return r.body
	case "timings":
		if r.timings == nil {
			r.tim = timings{rt: rt, t: res.Timings}
			r.timings = rt.NewDynamicObject(&r.tim)
		}
		return r.timings
	case "headers":
		if r.headers == nil {
			o := rt.NewObject()
			for k, vs := range res.Headers() {
				_ = o.Set(k, strings.Join(vs, ", "))
			}
			r.headers = o
		}
		return r.headers
	case "url":
		return rt.ToValue(res.URL)
	case "proto":
		return rt.ToValue(res.Proto)
	case "status_text":
		return rt.ToValue(res.StatusText)
	case "error":
		return rt.ToValue(res.Error)
	case "error_code":
		return rt.ToValue(res.ErrorCode)
	case "remote_ip":
		return rt.ToValue(res.RemoteIP)
	case "remote_port":
		return rt.ToValue(res.RemotePort)
	case "tls_version":
		return rt.ToValue(res.TLSVersion)
	case "tls_cipher_suite":
		return rt.ToValue(res.TLSCipherSuite)
	case "ocsp":
		o := rt.NewObject()
		_ = o.Set("status", "unknown")
		_ = o.Set("revocation_reason", "")
		for _, k := range []string{"produced_at", "this_update", "next_update", "revoked_at"} {
			_ = o.Set(k, 0)
		}
		return o
	case "cookies":
		if r.cookies == nil {
			r.cookies = r.cookieValues()
		}
		return r.cookies
	case "request":
		if r.request == nil {
			r.request = r.requestValue()
		}
		return r.request
	case "json", "html", "submitForm", "clickLink":
		return r.h.method(key)
	}
	return nil
}

// Set implements sobek.DynamicObject: scripts may add properties.
func (r *response) Set(key string, v sobek.Value) bool {
	if r.own == nil {
		r.own = map[string]sobek.Value{}
	}
	r.own[key] = v
	return true
}

// Has implements sobek.DynamicObject.
func (r *response) Has(key string) bool { return r.Get(key) != nil }

// Delete implements sobek.DynamicObject.
func (r *response) Delete(key string) bool { delete(r.own, key); return true }

// Keys implements sobek.DynamicObject.
func (r *response) Keys() []string {
	keys := append([]string(nil), responseKeys...)
	for k := range r.own {
		keys = append(keys, k)
	}
	return keys
}

// timings is res.timings: a dynamic object answers the field or two a
// script reads, where a plain one cost 12 allocations a response to set all
// eight (a fifth of an iteration's, pprof of bench/peers' script). It
// behaves as k6's, a Go struct: fields take numbers, and none can be added
// or deleted (a TypeError in strict code, ignored otherwise).
type timings struct {
	rt *sobek.Runtime
	t  k6http.Timings
}

var timingsKeys = []string{"duration", "blocked", "looking_up", "connecting", "tls_handshaking", "sending", "waiting", "receiving"}

// field returns the field called key, nil for none.
func (t *timings) field(key string) *float64 {
	switch key {
	case "duration":
		return &t.t.Duration
	case "blocked":
		return &t.t.Blocked
	case "looking_up":
		return &t.t.LookingUp
	case "connecting":
		return &t.t.Connecting
	case "tls_handshaking":
		return &t.t.TLSHandshaking
	case "sending":
		return &t.t.Sending
	case "waiting":
		return &t.t.Waiting
	case "receiving":
		return &t.t.Receiving
	}
	return nil
}

// Get implements sobek.DynamicObject.
func (t *timings) Get(key string) sobek.Value {
	if f := t.field(key); f != nil {
		return t.rt.ToValue(*f)
	}
	return nil
}

// Set implements sobek.DynamicObject.
func (t *timings) Set(key string, v sobek.Value) bool {
	f := t.field(key)
	if f != nil {
		*f = v.ToFloat()
	}
	return f != nil
}

// Has implements sobek.DynamicObject.
func (t *timings) Has(key string) bool { return t.field(key) != nil }

// Delete implements sobek.DynamicObject.
func (t *timings) Delete(key string) bool { return !t.Has(key) }

// Keys implements sobek.DynamicObject.
func (t *timings) Keys() []string { return timingsKeys }

// bodyValue is the body per responseType: a string, an ArrayBuffer for
// "binary", null for "none" or discarded bodies.
func (r *response) bodyValue() sobek.Value {
	vu := r.h.vu
	switch r.rtype {
	case k6http.ResponseNone:
		return sobek.Null()
	case k6http.ResponseBinary:
		return vu.arrayBuffer(r.r.Body)
	case k6http.ResponseDefault:
		if r.r.Body == nil && vu.prog.discardBodies() {
			return sobek.Null()
		}
	}
	return vu.rt.ToValue(string(r.r.Body))
}

// cookieValues is res.cookies: name → [{name, value, domain, path,
// http_only, secure, max_age, expires}].
func (r *response) cookieValues() sobek.Value {
	rt := r.h.vu.rt
	o := rt.NewObject()
	groups := map[string][]any{}
	var order []string
	for _, c := range r.r.Cookies() {
		if _, ok := groups[c.Name]; !ok {
			order = append(order, c.Name)
		}
		var expires int64
		if !c.Expires.IsZero() {
			expires = c.Expires.UnixMilli()
		}
		groups[c.Name] = append(groups[c.Name], map[string]any{"name": c.Name, "value": c.Value,
			"domain": c.Domain, "path": c.Path, "http_only": c.HttpOnly, "secure": c.Secure,
			"max_age": c.MaxAge, "expires": expires})
	}
	for _, n := range order {
		_ = o.Set(n, groups[n])
	}
	return o
}

// requestValue is res.request: {method, url, headers, body, cookies}; the
// headers are those sent, User-Agent and Cookie included, as in k6.
func (r *response) requestValue() sobek.Value {
	rt := r.h.vu.rt
	req := r.r.Request
	o := rt.NewObject()
	if req == nil {
		return o
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	_ = o.Set("method", method)
	_ = o.Set("url", req.URL)
	hdr := rt.NewObject()
	for k, vs := range r.r.RequestHeader() {
		_ = hdr.Set(k, vs)
	}
	_ = o.Set("headers", hdr)
	_ = o.Set("body", string(req.Body))
	ck := rt.NewObject()
	for _, c := range req.Cookies {
		_ = ck.Set(c.Name, []any{map[string]any{"name": c.Name, "value": c.Value, "replace": c.Replace}})
	}
	_ = o.Set("cookies", ck)
	return o
}

// method returns a response method, made once per VU: it finds its
// response through `this`.
func (h *httpState) method(name string) sobek.Value {
	if m, ok := h.methods[name]; ok {
		return m
	}
	vu := h.vu
	var fn func(sobek.FunctionCall) sobek.Value
	switch name {
	case "json":
		fn = func(call sobek.FunctionCall) sobek.Value {
			r := h.thisResponse(call.This, "json")
			return r.jsonValue(call.Argument(0))
		}
	case "html":
		fn = func(call sobek.FunctionCall) sobek.Value {
			r := h.thisResponse(call.This, "html")
			if r.rtype == k6http.ResponseNone || r.r.Body == nil {
				vu.throwf("Response.html(): the body is empty or was discarded")
			}
			doc := vu.parseHTML(string(r.r.Body), r.r.URL)
			if sel := call.Argument(0); !isNullish(sel) {
				doc = doc.Find(sel.String())
			}
			return vu.rt.ToValue(doc)
		}
	default:
		fn = func(sobek.FunctionCall) sobek.Value {
			vu.throwf("Response.%s() is not supported by loadlens", name)
			return nil
		}
	}
	if h.methods == nil {
		h.methods = map[string]sobek.Value{}
	}
	m := vu.rt.ToValue(fn)
	h.methods[name] = m
	return m
}

func (h *httpState) thisResponse(this sobek.Value, method string) *response {
	if o, ok := this.(*sobek.Object); ok {
		if r, ok := o.Export().(*response); ok {
			return r
		}
	}
	h.vu.typeErrorf("Response.%s() must be called on a response", method)
	return nil
}

// jsonValue implements res.json(selector): the body parsed as JSON (kept
// for later calls), or the value a gjson path selects (null when it
// selects nothing).
func (r *response) jsonValue(sel sobek.Value) sobek.Value {
	vu := r.h.vu
	body := r.r.Body
	if r.rtype == k6http.ResponseNone || body == nil {
		vu.throwf("cannot parse the response body as JSON: the body is empty or was discarded")
	}
	if !isNullish(sel) {
		res := gjson.GetBytes(body, sel.String())
		if !res.Exists() {
			return sobek.Null()
		}
		v, err := vu.parseJSONString(res.Raw)
		if err != nil {
			vu.throwError(err)
		}
		return v
	}
	if r.json == nil {
		v, err := vu.parseJSON(body)
		if err != nil {
			vu.throwError(err)
		}
		r.json = v
	}
	return r.json
}
