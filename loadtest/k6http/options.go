package k6http

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/loadlens/loadlens/metrics"
)

// Defaults of [Options], as k6 has them (the user agent is loadlens's own).
const (
	DefaultUserAgent    = "loadlens/0.1 (k6-compatible)"
	DefaultTimeout      = 60 * time.Second
	DefaultMaxRedirects = 10
)

// Options configure a [Client]. The zero value is k6's defaults: the
// default user agent, a 60 s timeout, 10 redirects, bodies kept, keep-alive
// connections, verified TLS, statuses 200–399 expected and k6's default
// system tags.
type Options struct {
	// UserAgent is sent with every request that has no User-Agent header;
	// "" means [DefaultUserAgent]. A request sends none if its header sets
	// User-Agent to "".
	UserAgent string
	// NoUserAgent sends no User-Agent header (unless a request sets one)
	// when UserAgent is "": k6's userAgent "".
	NoUserAgent bool
	// Timeout bounds each request, redirects included (k6's params.timeout);
	// 0 means [DefaultTimeout].
	Timeout time.Duration
	// MaxRedirects is how many redirects a request follows (k6's
	// maxRedirects); nil means [DefaultMaxRedirects], 0 follows none. A
	// request that would go further returns the last redirect response.
	MaxRedirects *int
	// DiscardResponseBodies makes [ResponseDefault] mean [ResponseNone]
	// (k6's discardResponseBodies): bodies are read off the wire, not kept.
	DiscardResponseBodies bool
	// NoConnectionReuse closes every connection after its response and
	// sends "Connection: close" (k6's noConnectionReuse).
	NoConnectionReuse bool
	// InsecureSkipTLSVerify accepts any server certificate.
	InsecureSkipTLSVerify bool
	// TLSConfig is the base TLS configuration (roots, client certificates,
	// versions); nil means Go's defaults. It is cloned, never modified.
	TLSConfig *tls.Config
	// ExpectedStatuses decides http_req_failed and the expected_response tag
	// (k6's responseCallback); nil means 200–399, [ExpectNone] disables both.
	ExpectedStatuses ExpectedStatuses
	// SystemTags lists the system tags samples carry (k6's systemTags); nil
	// means [DefaultSystemTags]. The client sets proto, subproto, status,
	// method, url, name, error, error_code, tls_version, expected_response
	// and ip itself; group, scenario, service and check come in
	// [Request.VUTags], and vu and iter in [Request.Metadata], both from the
	// caller, which filters them.
	SystemTags []string
	// Proxy picks a proxy per request, as [http.Transport.Proxy]; nil means
	// none. With a proxy every request goes through net/http.
	Proxy func(*http.Request) (*url.URL, error)
	// AllowIP, when set, is asked before every connection with the address
	// about to be dialled; a refused address fails the request with k6's
	// code 1110 (blacklisted IP) and no connection is made. It is how k6's
	// blacklistIPs and the agent's host allowlist hold for URLs a script
	// builds at run time. It must be safe for concurrent use.
	AllowIP func(netip.Addr) bool
	// RedactURLs hides URL passwords and the values of secret-looking query
	// parameters in the url and name tags, and secrets in the error tag
	// (the rules of package redact), for callers that store what scripts
	// they do not trust recorded.
	RedactURLs bool
	// DisableFastPath sends every request through net/http instead of the
	// client's own HTTP/1.1 path: slower, for comparison or as an escape
	// hatch.
	DisableFastPath bool
	// VUDefaults, when set, gives the VU tags and metadata of requests
	// that carry neither (VUTags empty, Metadata nil): the engine sets it
	// on each VU's client, so that a request made from Go carries the VU's
	// run tags, scenario and group as a script's does. It is called from
	// the goroutine calling Do, Batch or Start.
	VUDefaults func() (metrics.Tags, map[string]string)
	// Debug, when set, is called with each request as it is sent and each
	// response as it arrives, written as k6's --http-debug logs them:
	// "Request:\n" or "Response:\n", the HTTP/1.1 head, a blank line and,
	// with DebugBodies, the body. Requests then go through net/http. It is
	// called from the goroutine making the request.
	Debug func(req *Request, dump string)
	// DebugBodies adds bodies to Debug's dumps (k6's --http-debug=full).
	DebugBodies bool
}

// DefaultSystemTags returns k6's default system tags.
func DefaultSystemTags() []string {
	return []string{"proto", "subproto", "status", "method", "url", "name", "group", "check",
		"error", "error_code", "tls_version", "scenario", "service", "expected_response"}
}

// tagBits is a set of system tags.
type tagBits uint32

const (
	tagProto tagBits = 1 << iota
	tagSubproto
	tagStatus
	tagMethod
	tagURL
	tagName
	tagGroup
	tagCheck
	tagError
	tagErrorCode
	tagTLSVersion
	tagScenario
	tagService
	tagExpectedResponse
	tagVU
	tagIter
	tagIP
	tagOCSPStatus
)

func systemTagBit(name string) (tagBits, bool) {
	switch name {
	case "proto":
		return tagProto, true
	case "subproto":
		return tagSubproto, true
	case "status":
		return tagStatus, true
	case "method":
		return tagMethod, true
	case "url":
		return tagURL, true
	case "name":
		return tagName, true
	case "group":
		return tagGroup, true
	case "check":
		return tagCheck, true
	case "error":
		return tagError, true
	case "error_code":
		return tagErrorCode, true
	case "tls_version":
		return tagTLSVersion, true
	case "scenario":
		return tagScenario, true
	case "service":
		return tagService, true
	case "expected_response":
		return tagExpectedResponse, true
	case "vu":
		return tagVU, true
	case "iter":
		return tagIter, true
	case "ip":
		return tagIP, true
	case "ocsp_status":
		return tagOCSPStatus, true
	}
	return 0, false
}

func parseSystemTags(names []string) (tagBits, error) {
	if names == nil {
		names = DefaultSystemTags()
	}
	var b tagBits
	for i, n := range names {
		bit, ok := systemTagBit(n)
		if !ok {
			return 0, fmt.Errorf("systemTags[%d]: unknown system tag %q", i, n)
		}
		b |= bit
	}
	return b, nil
}

// settings are Options resolved once by NewClient.
type settings struct {
	userAgent    string
	timeout      time.Duration
	maxRedirects int
	discard      bool
	noReuse      bool
	expected     ExpectedStatuses // nil: the default 200–399
	tags         tagBits
	tlsConfig    *tls.Config
	proxy        func(*http.Request) (*url.URL, error)
	allowIP      func(netip.Addr) bool
	redactURLs   bool
	noFast       bool
	debug        func(*Request, string)
	debugBodies  bool
	vuDefaults   func() (metrics.Tags, map[string]string)
}

func (o Options) resolve() (settings, error) {
	s := settings{
		userAgent: o.UserAgent, timeout: o.Timeout, maxRedirects: DefaultMaxRedirects,
		discard: o.DiscardResponseBodies, noReuse: o.NoConnectionReuse, expected: o.ExpectedStatuses,
		proxy: o.Proxy, allowIP: o.AllowIP, redactURLs: o.RedactURLs, noFast: o.DisableFastPath || o.Proxy != nil || o.Debug != nil,
		debug: o.Debug, debugBodies: o.DebugBodies, vuDefaults: o.VUDefaults,
	}
	if s.userAgent == "" && !o.NoUserAgent {
		s.userAgent = DefaultUserAgent
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if o.MaxRedirects != nil {
		if *o.MaxRedirects < 0 {
			return s, fmt.Errorf("maxRedirects: must be >= 0, got %d", *o.MaxRedirects)
		}
		s.maxRedirects = *o.MaxRedirects
	}
	for i, r := range o.ExpectedStatuses {
		if r.Min > r.Max {
			return s, fmt.Errorf("expectedStatuses[%d]: min %d > max %d", i, r.Min, r.Max)
		}
	}
	var err error
	if s.tags, err = parseSystemTags(o.SystemTags); err != nil {
		return s, err
	}
	if o.TLSConfig != nil {
		s.tlsConfig = o.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.InsecureSkipTLSVerify {
		s.tlsConfig.InsecureSkipVerify = true //nolint:gosec // the user asked for it (k6's insecureSkipTLSVerify)
	}
	return s, nil
}

func (s *settings) on(b tagBits) bool { return s.tags&b != 0 }
