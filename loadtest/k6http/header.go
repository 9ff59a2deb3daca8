package k6http

import (
	"net/http"
	"strings"
)

// headerInfo is what the client needs to know of a request's headers,
// found in one pass over them.
type headerInfo struct {
	host      string // a Host header
	ua        string // a User-Agent header...
	hasUA     bool   // ...when there is one, even empty
	cookie    string // Cookie header values joined with "; "
	close     bool   // Connection: close
	unusual   bool   // something only net/http handles (Expect, invalid bytes)
	idempoKey bool   // Idempotency-Key or X-Idempotency-Key
}

func scanHeader(h http.Header) headerInfo {
	var hi headerInfo
	for k, vs := range h {
		if !validName([]byte(k)) {
			hi.unusual = true
		}
		for _, v := range vs {
			if !validRequestValue(v) {
				hi.unusual = true
			}
		}
		switch len(k) {
		case 4:
			if strings.EqualFold(k, "Host") && len(vs) > 0 {
				hi.host = vs[0]
			}
		case 6:
			if strings.EqualFold(k, "Cookie") {
				for _, v := range vs {
					if v = strings.TrimSpace(v); v == "" {
						continue
					}
					if hi.cookie != "" {
						hi.cookie += "; "
					}
					hi.cookie += v
				}
			} else if strings.EqualFold(k, "Expect") {
				hi.unusual = true
			}
		case 10:
			if strings.EqualFold(k, "User-Agent") {
				hi.hasUA = true
				if len(vs) > 0 {
					hi.ua = vs[0]
				}
			} else if strings.EqualFold(k, "Connection") {
				for _, v := range vs {
					if hasToken([]byte(v), "close") {
						hi.close = true
					}
				}
			}
		case 15, 17:
			if strings.EqualFold(k, "Idempotency-Key") || strings.EqualFold(k, "X-Idempotency-Key") {
				hi.idempoKey = true
			}
		}
	}
	return hi
}

// validRequestValue reports whether v may be sent as a header value: no
// control bytes but tab, as net/http checks.
func validRequestValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// skipHeader reports whether the client writes key itself (or drops it),
// as net/http does for Host, User-Agent, Content-Length,
// Transfer-Encoding and Trailer; Cookie is merged with the jar's.
func skipHeader(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 6:
		return strings.EqualFold(k, "Cookie")
	case 7:
		return strings.EqualFold(k, "Trailer")
	case 10:
		return strings.EqualFold(k, "User-Agent")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// trimValue trims what net/http trims around a header value.
func trimValue(v string) string {
	return strings.Trim(v, " \t\r\n")
}

// validMethod reports whether m is a token, as net/http requires.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !isTokenByte(m[i]) {
			return false
		}
	}
	return true
}
