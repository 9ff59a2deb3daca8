package target

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The demo credentials of /api/login and /api/checkout.
const (
	// DemoPassword is the password /api/login accepts, with any non-empty
	// username.
	DemoPassword = "demo"
	// DemoToken is the bearer token /api/login hands out and /api/checkout
	// requires.
	DemoToken = "demo-token"
	// Products is how many products the catalogue holds: ids 1 to Products.
	Products = 100
)

// StatusClientClosed is the status recorded (and written, if anyone still
// listens) when a request's context ends while it waits: the client went
// away or the server closed. nginx uses the same code.
const StatusClientClosed = 499

// maxBody bounds the request bodies the API decodes.
const maxBody = 64 << 10

// content is the pre-rendered payloads, immutable after newContent.
type content struct {
	text, json, octet []string // header values
	html              []string
	ok                []byte
	maintenance       []byte   // the exception fault's page
	list              []byte   // /api/products
	items             [][]byte // /api/products/{id}, index id-1
	prices            []int64  // cents, index id-1
	block             []byte   // /bytes/{n} pattern
}

// product is the catalogue's wire form.
type product struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Price int64  `json:"price"` // cents
	Stock int    `json:"stock"`
}

func newContent() content {
	c := content{
		text:        []string{"text/plain; charset=utf-8"},
		json:        []string{"application/json"},
		octet:       []string{"application/octet-stream"},
		html:        []string{"text/html; charset=utf-8"},
		ok:          []byte("ok"),
		maintenance: []byte("<html><body><h1>Down for maintenance</h1></body></html>"),
		block:       make([]byte, 32<<10),
	}
	all := make([]product, Products)
	for i := range all {
		id := i + 1
		all[i] = product{ID: id, Name: fmt.Sprintf("Product %03d", id), Price: int64(199 + (id*7919)%9800), Stock: (id * 31) % 57}
		b, _ := json.Marshal(all[i]) // cannot fail: plain struct
		c.items = append(c.items, b)
		c.prices = append(c.prices, all[i].Price)
	}
	c.list, _ = json.Marshal(all)
	for i := range c.block {
		c.block[i] = 'a' + byte(i%26)
	}
	return c
}

// handlerFunc answers a request and returns the status it wrote.
type handlerFunc func(w http.ResponseWriter, r *http.Request) int

// A Route is one of the target's routes.
type Route struct {
	// Pattern is its net/http.ServeMux pattern, e.g. "GET /api/products".
	Pattern string
	// Answer says what it answers.
	Answer string
	// Weight multiplies the latency of a load route (Config.Latency);
	// 0 is a route that is not a load route: faults leave it alone.
	Weight int
}

// Routes returns the target's routes, the catch-all last.
func Routes() []Route {
	return []Route{
		{"GET /{$}", `"ok" (2 bytes)`, 1},
		{"GET /api/products", "the catalogue, JSON (~6 KB)", 2},
		{"GET /api/products/{id}", fmt.Sprintf("one product, 1..%d; 400, 404", Products), 1},
		{"POST /api/login", `{"username","password":"demo"} or a bearer token → {"token"}; 400, 401`, 3},
		{"POST /api/checkout", "bearer " + DemoToken + `, {"items":[{"id","qty"}]} → 201 {"order","total"}; 400, 401`, 5},
		{"/status/{code}", "that status, 200..599, to any method", 0},
		{"GET /delay/{ms}", fmt.Sprintf(`"ok" after ms, at most %s`, MaxDelay), 0},
		{"GET /bytes/{n}", "n bytes, at most 16 MiB", 0},
		{"GET /healthz", `"ok", never faulted, not counted`, 0},
		{"GET /metrics", "Prometheus text of the target's own metrics, not counted", 0},
		{"/", "404 to every other path and method", 0},
	}
}

// routes registers every route of Routes on the mux.
func (s *Server) routes() {
	metrics := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slogPrintln{s},
	})
	handlers := map[string]handlerFunc{
		"GET /{$}":               s.root,
		"GET /api/products":      s.productList,
		"GET /api/products/{id}": s.productByID,
		"POST /api/login":        s.login,
		"POST /api/checkout":     s.checkout,
		"/status/{code}":         s.status,
		"GET /delay/{ms}":        s.delay,
		"GET /bytes/{n}":         s.bytes,
		"GET /healthz":           s.root,
		"GET /metrics": func(w http.ResponseWriter, r *http.Request) int {
			metrics.ServeHTTP(w, r)
			return http.StatusOK
		},
		"/": func(w http.ResponseWriter, _ *http.Request) int {
			return s.writeJSONError(w, http.StatusNotFound, "no such route")
		},
	}
	for _, r := range Routes() {
		h := handlers[r.Pattern]
		if r.Weight > 0 {
			h = s.faulty(time.Duration(r.Weight), h)
		}
		counted := r.Pattern != "GET /healthz" && r.Pattern != "GET /metrics"
		s.handle(r.Pattern, counted, h)
	}
}

// slogPrintln adapts the logger to promhttp's error log.
type slogPrintln struct{ s *Server }

func (l slogPrintln) Println(v ...any) { l.s.log.Warn("demo target metrics", "err", fmt.Sprint(v...)) }

// handle registers h under pattern, instrumented: the route's metrics, and,
// when counted, Stats.Requests and the in-flight gauge.
func (s *Server) handle(pattern string, counted bool, h handlerFunc) {
	name := pattern
	if i := strings.IndexByte(name, ' '); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, "{$}")
	if pattern == "/" {
		name = "other"
	}
	rm := s.metrics.route(name)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if counted {
			s.requests.Add(1)
			s.inFlight.Add(1)
			defer s.inFlight.Add(-1)
		}
		code := h(w, r)
		rm.observe(code, time.Since(start))
	})
}

// faulty wraps a load route's handler with latency (spread, jitter), the
// faults active for its path, CPU work and injected errors. weight
// multiplies Latency.
func (s *Server) faulty(weight time.Duration, h handlerFunc) handlerFunc {
	cfg := &s.cfg
	return func(w http.ResponseWriter, r *http.Request) int {
		n := s.seq.Add(1) - 1
		ctx := r.Context()
		el := cfg.Now().Sub(s.start)
		var buf [4]*activeFault
		active := buf[:0]
		for _, f := range s.faults {
			if f.appliesTo(r.URL.Path, el) {
				active = append(active, f)
			}
		}
		// A stall holds the request until it passes; steps and drifts
		// change its latency.
		var stall time.Duration
		d := s.latency(weight, n)
		for _, f := range active {
			switch f.Kind {
			case FaultStall:
				stall = max(stall, f.stallLeft(el))
			case FaultStep:
				d = time.Duration(float64(d)*f.Factor) + f.Delay
			case FaultDrift:
				d += time.Duration(float64(f.Slope) * (el - f.At).Seconds())
			}
			if !f.rated() {
				f.hits.Add(1)
			}
		}
		if err := wait(ctx, stall+d); err != nil {
			return s.gone(w)
		}
		saturated := false
		for _, f := range active {
			if f.Kind != FaultSaturate {
				continue
			}
			saturated = true
			if err := f.slots.acquire(ctx); err != nil {
				return s.gone(w)
			}
			err := wait(ctx, f.Hold)
			if err == nil {
				burn(ctx, cfg.CPUWork)
			}
			f.slots.release()
			if err != nil {
				return s.gone(w)
			}
		}
		if !saturated && cfg.CPUWork > 0 {
			burn(ctx, cfg.CPUWork)
		}
		// A burst's rate replaces ErrorRate while it lasts.
		fail, burst, reset, malformed := false, false, false, false
		for _, f := range active {
			switch f.Kind {
			case FaultLeak:
				if _, reached := s.leak.retain(f.Bytes); reached {
					now := cfg.Now()
					s.logEvent(Event{Time: now, Offset: now.Sub(s.start), Fault: f.index, Kind: f.Kind, Endpoint: f.Endpoint, What: "capped"})
				}
			case FaultBurst:
				fail, burst = f.hit() || fail, true
			case FaultReset:
				reset = f.hit() || reset
			case FaultException:
				malformed = f.hit() || malformed
			}
		}
		if !burst {
			fail = s.failsAt(n)
		}
		switch {
		case reset:
			return s.reset(w)
		case fail:
			s.errors.Add(1)
			code := http.StatusInternalServerError
			if splitmix64(cfg.Seed^n)&1 == 1 {
				code = http.StatusServiceUnavailable
			}
			return s.writeJSONError(w, code, "injected fault")
		case malformed:
			w.Header()["Content-Type"] = s.content.html
			_, _ = w.Write(s.content.maintenance)
			return http.StatusOK
		}
		return h(w, r)
	}
}

// latency returns load request n's wait before its fault: Latency × weight,
// log-normally spread, plus jitter.
func (s *Server) latency(weight time.Duration, n uint64) time.Duration {
	d := s.cfg.Latency * weight
	if s.cfg.Spread > 0 && d > 0 {
		d = time.Duration(float64(d) * logNormalAt(s.cfg.Seed, n, s.cfg.Spread))
	}
	return d + jitterAt(s.cfg.Seed, n, s.cfg.Jitter)
}

// failsAt reports whether load request n fails at ErrorRate: evenly
// spread, or at random with RandomErrors.
func (s *Server) failsAt(n uint64) bool {
	if s.cfg.RandomErrors {
		return s.errPPM > 0 && splitmix64(s.cfg.Seed^splitmix64(n^saltErrors))%ppm < s.errPPM
	}
	return failsAt(n, s.errPPM, s.phase)
}

// reset closes the request's connection with a TCP RST and no answer. A
// writer that cannot be hijacked (HTTP/2) is aborted instead.
func (s *Server) reset(w http.ResponseWriter) int {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return 0
}

// gone records a request whose context ended while it waited.
func (s *Server) gone(w http.ResponseWriter) int {
	s.cancelled.Add(1)
	w.WriteHeader(StatusClientClosed)
	return StatusClientClosed
}

func (s *Server) writeJSONError(w http.ResponseWriter, code int, msg string) int {
	w.Header()["Content-Type"] = s.content.json
	w.Header()["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(code)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	_, _ = w.Write(b)
	return code
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, body []byte) int {
	w.Header()["Content-Type"] = s.content.json
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return code
}

// root answers "ok": / and /healthz.
func (s *Server) root(w http.ResponseWriter, _ *http.Request) int {
	w.Header()["Content-Type"] = s.content.text
	_, _ = w.Write(s.content.ok)
	return http.StatusOK
}

func (s *Server) productList(w http.ResponseWriter, _ *http.Request) int {
	return s.writeJSON(w, http.StatusOK, s.content.list)
}

func (s *Server) productByID(w http.ResponseWriter, r *http.Request) int {
	id, err := strconv.Atoi(r.PathValue("id"))
	switch {
	case err != nil:
		return s.writeJSONError(w, http.StatusBadRequest, "product id must be an integer")
	case id < 1 || id > Products:
		return s.writeJSONError(w, http.StatusNotFound, "no such product")
	}
	return s.writeJSON(w, http.StatusOK, s.content.items[id-1])
}

// bearer reports whether r carries "Authorization: Bearer DemoToken".
func bearer(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && tok == DemoToken
}

// login accepts a valid bearer token, or a JSON body {"username": any
// non-empty, "password": DemoPassword}, and answers {"token": DemoToken}.
func (s *Server) login(w http.ResponseWriter, r *http.Request) int {
	if !bearer(r) {
		var body struct {
			Username string `json:"username"`
			Password string `json:"password"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil {
			return s.writeJSONError(w, http.StatusBadRequest, "body must be JSON {\"username\", \"password\"} or send a bearer token")
		}
		if body.Username == "" || body.Password != DemoPassword {
			w.Header().Set("WWW-Authenticate", `Bearer realm="loadlens-demo"`)
			return s.writeJSONError(w, http.StatusUnauthorized, "invalid credentials")
		}
	}
	return s.writeJSON(w, http.StatusOK, []byte(`{"token":"`+DemoToken+`"}`))
}

// checkout needs the bearer token and a JSON body {"items": [{"id", "qty"}]},
// and answers 201 {"order", "total"} (cents).
func (s *Server) checkout(w http.ResponseWriter, r *http.Request) int {
	if !bearer(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="loadlens-demo"`)
		return s.writeJSONError(w, http.StatusUnauthorized, "missing or invalid bearer token")
	}
	var body struct {
		Items []struct {
			ID  int `json:"id"`
			Qty int `json:"qty"`
		} `json:"items"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&body); err != nil {
		return s.writeJSONError(w, http.StatusBadRequest, "body must be JSON {\"items\": [{\"id\", \"qty\"}]}")
	}
	if len(body.Items) == 0 {
		return s.writeJSONError(w, http.StatusBadRequest, "items: must not be empty")
	}
	var total int64
	for i, it := range body.Items {
		if it.ID < 1 || it.ID > Products {
			return s.writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("items[%d].id: no product %d", i, it.ID))
		}
		if it.Qty < 1 || it.Qty > 100 {
			return s.writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("items[%d].qty: must be in [1, 100], got %d", i, it.Qty))
		}
		total += s.content.prices[it.ID-1] * int64(it.Qty)
	}
	out, _ := json.Marshal(struct {
		Order string `json:"order"`
		Total int64  `json:"total"`
	}{fmt.Sprintf("ord-%06d", s.orders.Add(1)), total})
	return s.writeJSON(w, http.StatusCreated, out)
}

// status answers /status/{code} with that code, 200 to 599, any method.
func (s *Server) status(w http.ResponseWriter, r *http.Request) int {
	code, err := strconv.Atoi(r.PathValue("code"))
	if err != nil || code < 200 || code > 599 {
		return s.writeJSONError(w, http.StatusBadRequest, "status code must be an integer in [200, 599]")
	}
	w.Header()["Content-Type"] = s.content.text
	w.WriteHeader(code)
	if code != http.StatusNoContent && code != http.StatusNotModified {
		_, _ = io.WriteString(w, http.StatusText(code))
	}
	return code
}

// delay answers /delay/{ms} after that many milliseconds, at most MaxDelay.
func (s *Server) delay(w http.ResponseWriter, r *http.Request) int {
	ms, err := strconv.ParseInt(r.PathValue("ms"), 10, 64)
	if err != nil || ms < 0 || ms > MaxDelay.Milliseconds() {
		return s.writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("delay must be an integer in [0, %d] ms", MaxDelay.Milliseconds()))
	}
	if err := wait(r.Context(), time.Duration(ms)*time.Millisecond); err != nil {
		return s.gone(w)
	}
	return s.root(w, r)
}

// bytes answers /bytes/{n} with n bytes of a-z, at most MaxBytes.
func (s *Server) bytes(w http.ResponseWriter, r *http.Request) int {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 0 || n > MaxBytes {
		return s.writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("size must be an integer in [0, %d] bytes", MaxBytes))
	}
	w.Header()["Content-Type"] = s.content.octet
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusOK)
	for n > 0 {
		k := min(n, int64(len(s.content.block)))
		if _, err := w.Write(s.content.block[:k]); err != nil {
			break
		}
		n -= k
	}
	return http.StatusOK
}
