package js

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/grafana/sobek"

	"github.com/loadlens/loadlens/loadtest/k6http"
)

// httpState is one VU's k6/http: its response callback and the methods
// its responses share.
type httpState struct {
	vu       *VU
	expected k6http.ExpectedStatuses // from setResponseCallback; nil: the default
	jar      *sobek.Object           // http.cookieJar(), made on first use
	methods  map[string]sobek.Value  // response methods: json, html, ...
}

func httpExportNames() []string {
	return []string{"CookieJar", "OCSP_REASON_AA_COMPROMISE", "OCSP_REASON_AFFILIATION_CHANGED",
		"OCSP_REASON_CA_COMPROMISE", "OCSP_REASON_CERTIFICATE_HOLD", "OCSP_REASON_CESSATION_OF_OPERATION",
		"OCSP_REASON_KEY_COMPROMISE", "OCSP_REASON_PRIVILEGE_WITHDRAWN", "OCSP_REASON_REMOVE_FROM_CRL",
		"OCSP_REASON_SUPERSEDED", "OCSP_REASON_UNSPECIFIED", "OCSP_STATUS_GOOD", "OCSP_STATUS_REVOKED",
		"OCSP_STATUS_UNKNOWN", "TLS_1_0", "TLS_1_1", "TLS_1_2", "TLS_1_3", "asyncRequest", "batch",
		"cookieJar", "del", "expectedStatuses", "file", "get", "head", "options", "patch", "post", "put",
		"request", "setResponseCallback", "url"}
}

// httpModule returns k6/http: its exports, made once per program, and
// each VU's state, made when the VU imports it.
func httpModule() *builtin {
	named := httpExports()
	return &builtin{names: httpExportNames(), inst: func(vu *VU) (Exports, error) {
		vu.http = &httpState{vu: vu}
		return Exports{Named: named}, nil
	}}
}

// httpExports are k6/http's named exports; its functions are made per VU.
func httpExports() map[string]any {
	noBody := func(method string) perVU {
		return func(vu *VU) any {
			h := vu.http
			return func(call sobek.FunctionCall) sobek.Value {
				return h.request(method, call.Argument(0), nil, call.Argument(1))
			}
		}
	}
	withBody := func(method string) perVU {
		return func(vu *VU) any {
			h := vu.http
			return func(call sobek.FunctionCall) sobek.Value {
				return h.request(method, call.Argument(0), call.Argument(1), call.Argument(2))
			}
		}
	}
	return map[string]any{
		"get": noBody(http.MethodGet), "head": noBody(http.MethodHead),
		"post": withBody(http.MethodPost), "put": withBody(http.MethodPut), "patch": withBody(http.MethodPatch),
		"del": withBody(http.MethodDelete), "options": withBody(http.MethodOptions),
		"request": perVU(func(vu *VU) any {
			h := vu.http
			return func(call sobek.FunctionCall) sobek.Value {
				return h.request(strings.ToUpper(call.Argument(0).String()), call.Argument(1), call.Argument(2), call.Argument(3))
			}
		}),
		"asyncRequest": perVU(func(vu *VU) any {
			h := vu.http
			return func(call sobek.FunctionCall) sobek.Value {
				return h.asyncRequest(strings.ToUpper(call.Argument(0).String()), call.Argument(1), call.Argument(2), call.Argument(3))
			}
		}),
		"batch":               perVU(func(vu *VU) any { return vu.http.batch }),
		"url":                 perVU(func(vu *VU) any { return vu.http.taggedURL }),
		"file":                perVU(func(vu *VU) any { return vu.http.file }),
		"cookieJar":           perVU(func(vu *VU) any { return vu.http.cookieJar }),
		"CookieJar":           perVU(func(vu *VU) any { return vu.http.newCookieJar }),
		"expectedStatuses":    perVU(func(vu *VU) any { return vu.http.expectedStatuses }),
		"setResponseCallback": perVU(func(vu *VU) any { return vu.http.setResponseCallback }),
		"TLS_1_0":             "tls1.0", "TLS_1_1": "tls1.1", "TLS_1_2": "tls1.2", "TLS_1_3": "tls1.3",
		"OCSP_STATUS_GOOD": "good", "OCSP_STATUS_REVOKED": "revoked", "OCSP_STATUS_UNKNOWN": "unknown",
		"OCSP_REASON_UNSPECIFIED": "unspecified", "OCSP_REASON_KEY_COMPROMISE": "key_compromise",
		"OCSP_REASON_CA_COMPROMISE": "ca_compromise", "OCSP_REASON_AFFILIATION_CHANGED": "affiliation_changed",
		"OCSP_REASON_SUPERSEDED": "superseded", "OCSP_REASON_CESSATION_OF_OPERATION": "cessation_of_operation",
		"OCSP_REASON_CERTIFICATE_HOLD": "certificate_hold", "OCSP_REASON_REMOVE_FROM_CRL": "remove_from_crl",
		"OCSP_REASON_PRIVILEGE_WITHDRAWN": "privilege_withdrawn", "OCSP_REASON_AA_COMPROMISE": "aa_compromise",
	}
}

// try runs fn, catching what it throws (interruptions go on).
func (h *httpState) try(fn func() sobek.Value) (v, thrown sobek.Value) {
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *sobek.Exception:
				thrown = x.Value()
			case sobek.Value:
				thrown = x
			default:
				panic(r)
			}
		}
	}()
	return fn(), nil
}

// reqParams are the parts of k6's params that the module reads itself.
type reqParams struct {
	responseType k6http.ResponseType
	throw        bool
	compression  []string
}

// request makes one request: k6's http.request(method, url, body, params).
func (h *httpState) request(method string, urlV, bodyV, paramsV sobek.Value) sobek.Value {
	vu := h.vu
	if vu.init {
		vu.throwf("making HTTP requests in the init context is not supported; move %s %s into a function", method, urlV)
	}
	st := vu.state
	if st == nil {
		vu.throwf("HTTP requests need a running test (not available in handleSummary)")
	}
	// The request, the response and the script's view of it stay three
	// allocations: made as one before the request, they held 768 bytes per
	// VU through the wait instead of the request's 192 (one bench/peers run
	// at 2 000 VUs: 66.7 KB per extra VU against main's 63.2).
	req, rp := h.build(method, urlV, bodyV, paramsV)
	resp, err := st.HTTP().Do(vu.ctx, req)
	if err != nil {
		vu.throwError(err)
	}
	h.throwFailed(req, rp, resp)
	return h.responseValue(rp, resp)
}

// asyncRequest implements http.asyncRequest(method, url, body, params):
// it returns a promise at once and makes the request in the background
// (see asyncCall). What request would throw before sending (invalid
// arguments, the init context) rejects the promise.
func (h *httpState) asyncRequest(method string, urlV, bodyV, paramsV sobek.Value) sobek.Value {
	vu := h.vu
	p, resolve, reject := vu.rt.NewPromise()
	a := &asyncCall{h: h, resolve: resolve, reject: reject}
	_, thrown := h.try(func() sobek.Value {
		if vu.init {
			vu.throwf("making HTTP requests in the init context is not supported; move %s %s into a function", method, urlV)
		}
		if vu.state == nil {
			vu.throwf("HTTP requests need a running test (not available in handleSummary)")
		}
		a.req, a.rp = h.build(method, urlV, bodyV, paramsV)
		return nil
	})
	if thrown != nil {
		_ = reject(thrown)
		return vu.rt.ToValue(p)
	}
	ctx, cancel := context.WithCancelCause(vu.ctx)
	pend, err := vu.state.HTTP().Start(ctx, a.req, func() { vu.loop.complete(a) })
	if err != nil {
		cancel(nil)
		_ = reject(vu.rt.NewGoError(err))
		return vu.rt.ToValue(p)
	}
	a.pending, a.cancel = pend, cancel
	vu.loop.start(a)
	return vu.rt.ToValue(p)
}

// asyncCall is a request of http.asyncRequest: it runs on a client of the
// VU's pool (k6http's Client.Start) on a goroutine of its own, while the
// script goes on; once it has completed, the VU's event loop emits its
// samples and settles its promise with the Response, on the VU's
// goroutine. As in k6, a network error resolves with a Response that
// carries error and error_code, and rejects only with params.throw (or the
// throw option).
type asyncCall struct {
	h               *httpState
	req             *k6http.Request
	rp              reqParams
	pending         *k6http.Pending
	cancel          context.CancelCauseFunc
	resolve, reject func(any) error
}

var _ task = (*asyncCall)(nil)

// settle implements task.
func (a *asyncCall) settle() error {
	resp, err := a.pending.Finish()
	a.cancel(nil)
	if err != nil {
		return err // the VU's context ended: the loop ends with it
	}
	h := a.h
	v, thrown := h.try(func() sobek.Value {
		h.throwFailed(a.req, a.rp, resp)
		return h.responseValue(a.rp, resp)
	})
	if thrown != nil {
		return a.reject(thrown)
	}
	return a.resolve(v)
}

// abandon implements task: the request is interrupted; the samples of
// what completed are emitted and its bytes counted.
func (a *asyncCall) abandon(cause error) {
	a.cancel(cause)
	_, _ = a.pending.Finish()
}

// throwFailed throws the network error of resp when params.throw (or the
// throw option) asks for it.
func (h *httpState) throwFailed(req *k6http.Request, rp reqParams, resp *k6http.Response) {
	if resp.Error != "" && rp.throw {
		h.vu.throwf("%s %s: %s", req.Method, req.URL, resp.Error)
	}
}

// responseValue is the script's view of resp.
func (h *httpState) responseValue(rp reqParams, resp *k6http.Response) sobek.Value {
	return h.vu.rt.NewDynamicObject(&response{h: h, r: resp, rtype: rp.responseType})
}

// build turns k6's arguments into a k6http request.
func (h *httpState) build(method string, urlV, bodyV, paramsV sobek.Value) (*k6http.Request, reqParams) {
	vu := h.vu
	rp := reqParams{throw: vu.throwOption(), responseType: k6http.ResponseDefault}
	req := &k6http.Request{Method: method, ExpectedStatuses: h.expected, VUTags: vu.state.Tags(), Metadata: vu.requestMetadata()}
	name := ""
	if o, ok := urlV.(*sobek.Object); ok {
		if tu, ok := o.Export().(*taggedURL); ok {
			req.URL, name = tu.url, tu.name
		}
	}
	if req.URL == "" {
		if isNullish(urlV) {
			vu.typeErrorf("http.%s: a URL is required", strings.ToLower(method))
		}
		req.URL = urlV.String()
	}
	if strings.Contains(req.URL, "@") {
		if u, err := url.Parse(req.URL); err == nil && u.User != nil {
			pass, _ := u.User.Password()
			req.Header = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass))}}
		}
	}
	if params, ok := paramsV.(*sobek.Object); ok {
		h.readParams(req, &rp, params, &name)
	}
	if name != "" {
		req.Tags = req.Tags.With("name", name)
	}
	h.setBody(req, bodyV)
	if len(rp.compression) > 0 && len(req.Body) > 0 {
		h.compress(req, rp.compression)
	}
	req.ResponseType = rp.responseType
	return req, rp
}

// readParams reads k6's params object.
func (h *httpState) readParams(req *k6http.Request, rp *reqParams, p *sobek.Object, name *string) {
	vu := h.vu
	for _, key := range p.Keys() {
		v := p.Get(key)
		if isNullish(v) && key != "responseCallback" && key != "jar" {
			continue
		}
		switch key {
		case "headers":
			if o, ok := v.(*sobek.Object); ok {
				keys := o.Keys()
				if req.Header == nil {
					req.Header = make(http.Header, len(keys))
				}
				for _, k := range keys {
					if hv := o.Get(k); !isNullish(hv) {
						req.Header[textproto.CanonicalMIMEHeaderKey(k)] = []string{hv.String()}
					}
				}
			}
		case "tags":
			if o, ok := v.(*sobek.Object); ok {
				req.Tags = vu.tagsOf(o)
				if n, ok := req.Tags.Get("name"); ok {
					*name = n
				}
			}
		case "timeout":
			d, ok := durationOf(v)
			if !ok || d <= 0 {
				vu.typeErrorf("params.timeout: want a positive number of milliseconds or a duration such as \"30s\", got %s", v)
			}
			req.Timeout = d
		case "redirects":
			n := int(v.ToInteger())
			req.Redirects = &n
		case "cookies":
			if o, ok := v.(*sobek.Object); ok {
				for _, k := range o.Keys() {
					c := k6http.Cookie{Name: k}
					cv := o.Get(k)
					if co, ok := cv.(*sobek.Object); ok {
						c.Value = getStr(co, "value")
						c.Replace = co.Get("replace") != nil && co.Get("replace").ToBoolean()
					} else if !isNullish(cv) {
						c.Value = cv.String()
					}
					req.Cookies = append(req.Cookies, c)
				}
			}
		case "jar":
			h.useJar(req, v)
		case "responseType":
			switch s := v.String(); s {
			case "text":
				rp.responseType = k6http.ResponseText
			case "binary":
				rp.responseType = k6http.ResponseBinary
			case "none":
				rp.responseType = k6http.ResponseNone
			default:
				vu.typeErrorf("params.responseType: want \"text\", \"binary\" or \"none\", got %q", s)
			}
		case "responseCallback":
			req.ExpectedStatuses = h.callbackOf(v)
		case "throw":
			rp.throw = v.ToBoolean()
		case "compression":
			for _, c := range strings.Split(v.String(), ",") {
				if c = strings.TrimSpace(c); c != "" {
					rp.compression = append(rp.compression, c)
				}
			}
		case "auth":
			switch a := v.String(); a {
			case "basic":
			case "digest":
				req.DigestAuth = true
			default:
				vu.warnOrThrow("params.auth %q is not supported by loadlens; only basic and digest (user:password in the URL)", a)
			}
		}
	}
}

// useJar applies params.jar: the VU's jar (the default) or another, which
// the request then uses instead of the VU's, as in k6.
func (h *httpState) useJar(req *k6http.Request, v sobek.Value) {
	o, ok := v.(*sobek.Object)
	if !ok {
		return
	}
	cj, ok := o.Export().(*cookieJarObj)
	if !ok || cj.vuJar {
		return // the client uses the VU's jar by itself
	}
	req.Jar = cj.jar
}

// setBody encodes k6's body argument: a string, an ArrayBuffer or typed
// array, or an object sent as a form (multipart when it holds http.file
// values).
func (h *httpState) setBody(req *k6http.Request, v sobek.Value) {
	if isNullish(v) {
		return
	}
	vu := h.vu
	if b, ok := vu.bytesOf(v); ok {
		req.Body = b
		return
	}
	o, ok := v.(*sobek.Object)
	if !ok {
		req.Body = []byte(v.String())
		return
	}
	if f, ok := o.Export().(*httpFile); ok {
		req.Body = f.data
		return
	}
	keys := o.Keys()
	multi := false
	for _, k := range keys {
		if fo, ok := o.Get(k).(*sobek.Object); ok {
			if _, isFile := fo.Export().(*httpFile); isFile {
				multi = true
				break
			}
		}
	}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if !multi {
		form := url.Values{}
		for _, k := range keys {
			fv := o.Get(k)
			switch a, isObj := fv.(*sobek.Object); {
			case isNullish(fv):
				form.Set(k, "")
			case isObj && a.ClassName() == "Array":
				for _, i := range a.Keys() { // k6 sends a field per element: topping=a&topping=b
					form.Add(k, a.Get(i).String())
				}
			default:
				form.Set(k, fv.String())
			}
		}
		req.Body = []byte(form.Encode())
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, k := range keys {
		fv := o.Get(k)
		if fo, ok := fv.(*sobek.Object); ok {
			if f, isFile := fo.Export().(*httpFile); isFile {
				hdr := textproto.MIMEHeader{}
				fname := f.filename
				if fname == "" {
					fname = k
				}
				hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, k, fname))
				ct := f.contentType
				if ct == "" {
					ct = "application/octet-stream"
				}
				hdr.Set("Content-Type", ct)
				w, err := mw.CreatePart(hdr)
				if err == nil {
					_, _ = w.Write(f.data)
				}
				continue
			}
		}
		val := ""
		if !isNullish(fv) {
			val = fv.String()
		}
		_ = mw.WriteField(k, val)
	}
	_ = mw.Close()
	req.Body = buf.Bytes()
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", mw.FormDataContentType())
	}
}

// compress encodes the body with params.compression (gzip, deflate, br,
// zstd, in order) and sets Content-Encoding.
func (h *httpState) compress(req *k6http.Request, algos []string) {
	body, err := k6http.Compress(req.Body, algos...)
	if err != nil {
		h.vu.throwf("params.compression: %v", err)
	}
	req.Body = body
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Encoding", strings.Join(algos, ", "))
}

// requestMetadata is the metadata samples of a request carry: k6's vu and
// iter system tags when enabled, and exec.vu.metrics.metadata.
func (vu *VU) requestMetadata() map[string]string {
	sysVU, sysIter := vu.prog.systemMetadata()
	if !sysVU && !sysIter {
		return vu.metadata
	}
	md := make(map[string]string, len(vu.metadata)+2)
	for k, v := range vu.metadata {
		md[k] = v
	}
	if sysVU {
		md["vu"] = fmt.Sprint(vu.id)
	}
	if sysIter && vu.state != nil {
		md["iter"] = fmt.Sprint(vu.state.Iteration().IterationInInstance)
	}
	return md
}

// batch implements http.batch(requests): the requests run in parallel,
// at most options.batch (20) at once and options.batchPerHost (6) at once
// to one host, as in k6. Every request is read before any is sent; the
// result has the shape of the argument (an array or an object) and the
// order of its keys. With params.throw (or the throw option), the first
// request, in that order, that failed on the network throws once all have
// completed.
func (h *httpState) batch(call sobek.FunctionCall) sobek.Value {
	vu := h.vu
	if vu.init {
		vu.throwf("making HTTP requests in the init context is not supported; move http.batch into a function")
	}
	st := vu.state
	if st == nil {
		vu.throwf("HTTP requests need a running test (not available in handleSummary)")
	}
	arg, ok := call.Argument(0).(*sobek.Object)
	if !ok {
		vu.typeErrorf("http.batch: want an array or an object of requests")
	}
	keys := arg.Keys()
	reqs := make([]*k6http.Request, len(keys))
	rps := make([]reqParams, len(keys))
	for i, k := range keys {
		reqs[i], rps[i] = h.build(h.batchArgs(arg.Get(k)))
	}
	resps, err := st.HTTP().Batch(vu.ctx, reqs, vu.prog.extra().batchLimits())
	if err != nil {
		vu.throwError(err)
	}
	for i, resp := range resps {
		h.throwFailed(reqs[i], rps[i], resp)
	}
	var out *sobek.Object
	if arg.ClassName() == "Array" {
		out = vu.rt.NewArray()
	} else {
		out = vu.rt.NewObject()
	}
	for i, k := range keys {
		_ = out.Set(k, h.responseValue(rps[i], resps[i]))
	}
	return out
}

// batchArgs reads one request of a batch: a URL, an array [method, url,
// body, params] or an object {method, url, body, params}.
func (h *httpState) batchArgs(v sobek.Value) (method string, urlV, bodyV, paramsV sobek.Value) {
	o, ok := v.(*sobek.Object)
	if !ok {
		return http.MethodGet, v, nil, nil
	}
	if _, isURL := o.Export().(*taggedURL); isURL {
		return http.MethodGet, v, nil, nil
	}
	arg := func(i int, key string) sobek.Value {
		if o.ClassName() == "Array" {
			return o.Get(fmt.Sprint(i))
		}
		return o.Get(key)
	}
	method = http.MethodGet
	if m := arg(0, "method"); !isNullish(m) {
		method = strings.ToUpper(m.String())
	}
	return method, arg(1, "url"), arg(2, "body"), arg(3, "params")
}

// taggedURL is what the http.url template tag returns: the URL, and the
// template as the request's name tag.
type taggedURL struct {
	url, name string
	vu        *VU
}

func (u *taggedURL) Get(key string) sobek.Value {
	switch key {
	case "url":
		return u.vu.rt.ToValue(u.url)
	case "name":
		return u.vu.rt.ToValue(u.name)
	case "toString":
		return u.vu.rt.ToValue(func(sobek.FunctionCall) sobek.Value { return u.vu.rt.ToValue(u.url) })
	}
	return nil
}
func (u *taggedURL) Set(string, sobek.Value) bool { return false }
func (u *taggedURL) Has(key string) bool          { return key == "url" || key == "name" }
func (u *taggedURL) Delete(string) bool           { return false }
func (u *taggedURL) Keys() []string               { return []string{"url", "name"} }

// taggedURL implements http.url`...${x}...`.
func (h *httpState) taggedURL(call sobek.FunctionCall) sobek.Value {
	parts, ok := call.Argument(0).(*sobek.Object)
	if !ok {
		h.vu.typeErrorf("http.url is a template tag: use http.url`https://host/${id}`")
	}
	n := int(parts.Get("length").ToInteger())
	var u, name strings.Builder
	for i := range n {
		s := parts.Get(fmt.Sprint(i)).String()
		u.WriteString(s)
		name.WriteString(s)
		if i+1 < n {
			u.WriteString(call.Argument(i + 1).String())
			name.WriteString("${}")
		}
	}
	return h.vu.rt.NewDynamicObject(&taggedURL{url: u.String(), name: name.String(), vu: h.vu})
}

// httpFile is what http.file(data, filename, contentType) returns.
type httpFile struct {
	data                  []byte
	filename, contentType string
	vu                    *VU
}

func (f *httpFile) Get(key string) sobek.Value {
	switch key {
	case "data":
		return f.vu.rt.ToValue(string(f.data))
	case "filename":
		return f.vu.rt.ToValue(f.filename)
	case "content_type":
		return f.vu.rt.ToValue(f.contentType)
	}
	return nil
}
func (f *httpFile) Set(string, sobek.Value) bool { return false }
func (f *httpFile) Has(key string) bool          { return slices.Contains(f.Keys(), key) }
func (f *httpFile) Delete(string) bool           { return false }
func (f *httpFile) Keys() []string               { return []string{"data", "filename", "content_type"} }

// file implements http.file(data, filename, contentType).
func (h *httpState) file(call sobek.FunctionCall) sobek.Value {
	data, _ := h.vu.stringOrBytes(call.Argument(0))
	f := &httpFile{data: bytes.Clone(data), vu: h.vu, contentType: "application/octet-stream"}
	if a := call.Argument(1); !isNullish(a) {
		f.filename = a.String()
	}
	if a := call.Argument(2); !isNullish(a) {
		f.contentType = a.String()
	}
	return h.vu.rt.NewDynamicObject(f)
}

// expectedStatusesObj is what http.expectedStatuses returns.
type expectedStatusesObj struct{ e k6http.ExpectedStatuses }

// expectedStatuses implements http.expectedStatuses(200, {min, max}, ...).
func (h *httpState) expectedStatuses(call sobek.FunctionCall) sobek.Value {
	vu := h.vu
	e := k6http.ExpectedStatuses{}
	for i, a := range call.Arguments {
		if o, ok := a.(*sobek.Object); ok {
			lo, hi := o.Get("min"), o.Get("max")
			if isNullish(lo) || isNullish(hi) {
				vu.typeErrorf("expectedStatuses: argument %d: want a status or {min, max}", i)
			}
			e = append(e, k6http.StatusRange{Min: int(lo.ToInteger()), Max: int(hi.ToInteger())})
			continue
		}
		f := a.ToFloat()
		if f != float64(int(f)) {
			vu.typeErrorf("expectedStatuses: argument %d: want an integer status, got %s", i, a)
		}
		e = append(e, k6http.StatusRange{Min: int(f), Max: int(f)})
	}
	return vu.rt.ToValue(&expectedStatusesObj{e: e})
}

// callbackOf reads a responseCallback: null disables http_req_failed.
func (h *httpState) callbackOf(v sobek.Value) k6http.ExpectedStatuses {
	if isNullish(v) {
		return k6http.ExpectNone()
	}
	if o, ok := v.(*sobek.Object); ok {
		if es, ok := o.Export().(*expectedStatusesObj); ok {
			return es.e
		}
	}
	h.vu.typeErrorf("responseCallback: only http.expectedStatuses(...) or null is supported")
	return nil
}

// setResponseCallback implements http.setResponseCallback(cb).
func (h *httpState) setResponseCallback(call sobek.FunctionCall) sobek.Value {
	h.expected = h.callbackOf(call.Argument(0))
	return sobek.Undefined()
}

// cookieJarObj is a CookieJar: the VU's (http.cookieJar()) or a new one.
type cookieJarObj struct {
	jar     http.CookieJar
	vuJar   bool
	methods map[string]sobek.Value
}

func (c *cookieJarObj) Get(key string) sobek.Value   { return c.methods[key] }
func (c *cookieJarObj) Set(string, sobek.Value) bool { return false }
func (c *cookieJarObj) Has(key string) bool {
	_, ok := c.methods[key]
	return ok
}
func (c *cookieJarObj) Delete(string) bool { return false }
func (c *cookieJarObj) Keys() []string     { return nil }

// cookieJar implements http.cookieJar(): the VU's own jar.
func (h *httpState) cookieJar(sobek.FunctionCall) sobek.Value {
	vu := h.vu
	if vu.state == nil {
		vu.throwf("http.cookieJar() needs a running test")
	}
	if h.jar == nil {
		h.jar = h.jarObject(&cookieJarObj{vuJar: true, jar: vu.state.HTTP().Jar()})
	}
	return h.jar
}

// newCookieJar implements new http.CookieJar().
func (h *httpState) newCookieJar(sobek.ConstructorCall) *sobek.Object {
	jar, _ := cookiejar.New(nil)
	return h.jarObject(&cookieJarObj{jar: jar})
}

// jarObject returns the script's view of a jar: cookiesForURL, set,
// clear and delete.
func (h *httpState) jarObject(cj *cookieJarObj) *sobek.Object {
	vu := h.vu
	rt := vu.rt
	parse := func(v sobek.Value) *url.URL {
		u, err := url.Parse(v.String())
		if err != nil || u.Host == "" {
			vu.typeErrorf("cookie jar: invalid URL %q", v.String())
		}
		return u
	}
	fn := func(f func(sobek.FunctionCall) sobek.Value) sobek.Value { return rt.ToValue(f) }
	expire := func(u *url.URL, only string) {
		var gone []*http.Cookie
		for _, c := range cj.jar.Cookies(u) {
			if only == "" || c.Name == only {
				for _, p := range cookiePaths(u.Path) {
					gone = append(gone, &http.Cookie{Name: c.Name, Path: p, MaxAge: -1})
				}
			}
		}
		cj.jar.SetCookies(u, gone)
	}
	cj.methods = map[string]sobek.Value{
		"cookiesForURL": fn(func(call sobek.FunctionCall) sobek.Value {
			out := rt.NewObject()
			byName := map[string][]string{}
			var order []string
			for _, c := range cj.jar.Cookies(parse(call.Argument(0))) {
				if _, ok := byName[c.Name]; !ok {
					order = append(order, c.Name)
				}
				byName[c.Name] = append(byName[c.Name], c.Value)
			}
			for _, n := range order {
				_ = out.Set(n, byName[n])
			}
			return out
		}),
		"set": fn(func(call sobek.FunctionCall) sobek.Value {
			u := parse(call.Argument(0))
			c := &http.Cookie{Name: call.Argument(1).String(), Value: call.Argument(2).String()}
			if opts, ok := call.Argument(3).(*sobek.Object); ok {
				c.Domain, c.Path = getStr(opts, "domain"), getStr(opts, "path")
				if v := opts.Get("max_age"); !isNullish(v) {
					c.MaxAge = int(v.ToInteger())
				}
				if v := opts.Get("secure"); !isNullish(v) {
					c.Secure = v.ToBoolean()
				}
				if v := opts.Get("http_only"); !isNullish(v) {
					c.HttpOnly = v.ToBoolean()
				}
				if s := getStr(opts, "expires"); s != "" {
					if t, err := http.ParseTime(s); err == nil {
						c.Expires = t
					} else if t, err := time.Parse(time.RFC3339, s); err == nil {
						c.Expires = t
					}
				}
			}
			cj.jar.SetCookies(u, []*http.Cookie{c})
			return sobek.Undefined()
		}),
		"clear": fn(func(call sobek.FunctionCall) sobek.Value {
			expire(parse(call.Argument(0)), "")
			return sobek.Undefined()
		}),
		"delete": fn(func(call sobek.FunctionCall) sobek.Value {
			expire(parse(call.Argument(0)), call.Argument(1).String())
			return sobek.Undefined()
		}),
	}
	return rt.NewDynamicObject(cj)
}

// cookiePaths are the paths a cookie set for a URL path may have been
// stored under: each of its prefixes.
func cookiePaths(p string) []string {
	out := []string{"/"}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	if p != "" && p != "/" {
		out = append(out, p)
	}
	return out
}
