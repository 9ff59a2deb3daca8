// Package redact is the one place that decides what looks like a secret and
// how it is hidden, so that specs, results, reports, logs, the database and
// the AI prompt all agree.
//
// Values are hidden by name (a header, query parameter, JSON field or
// environment variable called token, password, api_key, …) and by shape
// (URL passwords, bearer tokens, JWTs, Google API keys, key=value pairs with
// secret-looking keys). Every hidden value becomes [Placeholder]. The rules
// over-redact rather than leak, and never fail: text that does not parse is
// redacted by shape.
//
// It imports only the standard library.
package redact

import (
	"encoding/json"
	"regexp"
	"strings"
)

// Placeholder replaces every hidden value.
const Placeholder = "[REDACTED]"

// secretName matches the names of headers, query parameters, JSON fields and
// environment variables that carry secrets.
var secretName = regexp.MustCompile(`(?i)token|secret|passw|pwd|api[_-]?key|auth|cookie|credential|private|session|jwt|bearer|signature|(^|[_.-])sig($|[_.-])|(^|[_-])dsn($|[_-])|access[_-]?key|(^|[_.-])key$`)

// Name reports whether a header, query parameter, JSON field or environment
// variable of this name holds a secret.
func Name(name string) bool { return secretName.MatchString(name) }

// Patterns of secrets in free text.
var (
	reBearer   = regexp.MustCompile(`(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}`)
	reKeyValue = regexp.MustCompile(`(?i)([A-Za-z0-9_-]*(?:api[_-]?key|token|secret|passw(?:or)?d|pwd|auth[a-z_-]*|cookie|session|credential|private[_-]?key|signature|sig)[A-Za-z0-9_-]*)(["']?\s*[:=]\s*["']?)([^\s"'&,;<>]+)`)
	reGoogle   = regexp.MustCompile(`AIza[0-9A-Za-z_\-]{10,}`)
	reJWT      = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*`)
	reLongTok  = regexp.MustCompile(`\b[A-Za-z0-9+/_-]{40,}={0,2}`)
	// reURL finds URLs in text, up to the characters that end them in
	// prose, JSON and scripts.
	reURL = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'`<>\\\\]+")
)

// Text hides secrets in free text by shape: URLs as [URL] does, bearer and
// basic tokens, key=value pairs with secret-looking keys, JWTs, Google API
// keys and long opaque tokens (40 characters or more). It is for messages
// and logs; names meant to stay readable (endpoints, URLs) use [URL].
func Text(s string) string {
	s = reURL.ReplaceAllStringFunc(s, URL)
	s = reJWT.ReplaceAllString(s, Placeholder)
	s = reGoogle.ReplaceAllString(s, Placeholder)
	s = reBearer.ReplaceAllString(s, "${1} "+Placeholder)
	s = reKeyValue.ReplaceAllStringFunc(s, keyValue)
	s = reLongTok.ReplaceAllString(s, Placeholder)
	return s
}

// keyValue redacts the value of one key=value match, leaving as it is a
// value that is already the placeholder or an auth scheme, whose token the
// bearer rule has hidden ("Authorization: Bearer [REDACTED]").
func keyValue(m string) string {
	sub := reKeyValue.FindStringSubmatch(m)
	switch v := strings.ToLower(sub[3]); {
	case strings.HasPrefix(v, "[redacted"), v == "bearer", v == "basic", v == "token", v == "digest":
		return m
	}
	return sub[1] + sub[2] + Placeholder
}

// userinfoPlaceholder is Placeholder as a URL's user info must spell it, so
// that a redacted URL still parses.
const userinfoPlaceholder = "%5BREDACTED%5D"

// URL hides the password of a URL's user info and the values of its
// secret-looking query parameters (and of its fragment's, where OAuth puts
// access_token), keeping the rest of the text as it was. It works on the
// text, so a URL that net/url refuses (a space in the password) is
// redacted too; a URL that parsed still parses. Text without "://" is
// treated as a path with a query.
func URL(s string) string {
	rest := s
	var b strings.Builder
	if i := strings.Index(s, "://"); i >= 0 {
		authEnd := len(s)
		if j := strings.IndexAny(s[i+3:], "/?#"); j >= 0 {
			authEnd = i + 3 + j
		}
		auth := s[i+3 : authEnd]
		b.WriteString(s[:i+3])
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			user := auth[:at]
			if name, _, hasPass := strings.Cut(user, ":"); hasPass {
				user = name + ":" + userinfoPlaceholder
			}
			b.WriteString(user)
			auth = auth[at:]
		}
		b.WriteString(auth)
		rest = s[authEnd:]
	}
	path, query, hasQuery := strings.Cut(rest, "?")
	var frag string
	hasFrag := false
	if hasQuery {
		query, frag, hasFrag = strings.Cut(query, "#")
	} else {
		path, frag, hasFrag = strings.Cut(path, "#")
	}
	b.WriteString(path)
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(params(query))
	}
	if hasFrag {
		b.WriteByte('#')
		b.WriteString(params(frag))
	}
	return b.String()
}

// params redacts the values of secret-looking parameters of a query (or
// form body, or fragment): "a=1&token=x" → "a=1&token=[REDACTED]".
func params(q string) string {
	if !strings.Contains(q, "=") {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, v, ok := strings.Cut(p, "="); ok && v != "" && Name(unescape(k)) {
			parts[i] = k + "=" + Placeholder
		}
	}
	return strings.Join(parts, "&")
}

// unescape is a lenient query unescape for matching names only.
func unescape(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// Map returns a copy of m (headers, environment variables) with the values
// of secret-looking names replaced, and the others redacted by shape.
func Map(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = Value(k, v)
	}
	return out
}

// Value redacts one named value: wholly when the name looks secret,
// otherwise by shape.
func Value(name, v string) string {
	if v != "" && Name(name) {
		return Placeholder
	}
	return Text(v)
}

// Body redacts a request body: a JSON document field by field (see
// [JSON]), a form body parameter by parameter, anything else by shape.
func Body(s string) string {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		var v any
		if json.Unmarshal([]byte(t), &v) == nil {
			b, err := json.Marshal(JSON(v))
			if err == nil {
				return string(b)
			}
		}
	}
	if !strings.ContainsAny(t, " \n{") && strings.Contains(t, "=") {
		return params(t)
	}
	return Text(s)
}

// JSON redacts decoded JSON (maps, slices and scalars, as encoding/json
// makes them) in place and returns it: values under secret-looking keys,
// secrets in strings by shape, and strings that hold a JSON document or a
// form (a request body inside a spec) recursively.
func JSON(v any) any { return jsonValue(v, "") }

func jsonValue(v any, key string) any {
	switch x := v.(type) {
	case string:
		if x == "" {
			return x
		}
		if key != "" && Name(key) {
			return Placeholder
		}
		return Body(x)
	case map[string]any:
		for k, e := range x {
			x[k] = jsonValue(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = jsonValue(e, key)
		}
	case float64, json.Number: // a numeric password or PIN
		if key != "" && Name(key) {
			return Placeholder
		}
	}
	return v
}
