package k6http

import (
	"net/http"
	"strconv"
)

// codeTexts say what k6's error codes mean, for people reading a summary.
var codeTexts = map[int]string{
	CodeGeneric:              "request failed",
	CodeNonTCP:               "network error (not TCP)",
	CodeInvalidURL:           "invalid URL",
	CodeTimeout:              "request timeout",
	CodeDNS:                  "DNS error",
	CodeDNSNoSuchHost:        "no such host",
	CodeBlacklistedIP:        "blacklisted IP",
	CodeTCP:                  "TCP error",
	CodeTCPBrokenPipe:        "broken pipe",
	CodeTCPUnknownErrno:      "TCP error",
	CodeDial:                 "dial error",
	CodeDialTimeout:          "dial timeout",
	CodeDialRefused:          "connection refused",
	CodeDialUnknownErrno:     "dial error",
	CodeTCPReset:             "connection reset by peer",
	CodeTLS:                  "TLS error",
	CodeX509UnknownAuthority: "unknown certificate authority",
	CodeX509Hostname:         "certificate does not match the host",
	CodeDecompression:        "body could not be decompressed",
}

// CodeText says what a k6 error code means: "connection refused" for 1212,
// "HTTP 503 Service Unavailable" for 1503; "" for a code k6 does not have.
func CodeText(code int) string {
	if t, ok := codeTexts[code]; ok {
		return t
	}
	if status := code - 1000; status >= 400 && status < 600 {
		return "HTTP " + strconv.Itoa(status) + " " + http.StatusText(status)
	}
	return ""
}
