package gemini

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/loadlens/loadlens/internal/redact"
)

// redactName redacts an endpoint name, which is often a URL: its user
// info and the values of secret-looking query parameters.
func redactName(name string) string {
	return truncate(redact.Text(name), 120)
}

// originOf returns scheme://host of a base URL, or "" when it does not
// parse.
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:max(n-1, 0)]) + "…"
}

// cleanUntrusted makes target-originated text safe to show the model:
// control characters become spaces, the marker cannot appear in it,
// secrets are redacted and it is cut to n runes.
func cleanUntrusted(s, marker string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	s = redact.Text(s)
	if marker != "" {
		s = strings.ReplaceAll(s, marker, "[marker]")
	}
	// Fake markers of any kind are neutralised too.
	s = strings.ReplaceAll(s, "<<", "‹‹")
	s = strings.ReplaceAll(s, ">>", "››")
	return truncate(strings.TrimSpace(s), n)
}

// wrapUntrusted puts s between the marker's delimiters.
func wrapUntrusted(s, marker string) string {
	return "<<" + marker + ">>" + s + "<<END-" + marker + ">>"
}

// newMarker returns a random, unguessable delimiter name.
func newMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "UNTRUSTED-" + hex.EncodeToString(b[:])
}

// scrubSecret removes secret from s (and its URL-escaped form): no text
// leaving the package may carry the API key.
func scrubSecret(s, secret string) string {
	if secret == "" {
		return s
	}
	s = strings.ReplaceAll(s, secret, redact.Placeholder)
	if esc := url.QueryEscape(secret); esc != secret {
		s = strings.ReplaceAll(s, esc, redact.Placeholder)
	}
	return s
}
