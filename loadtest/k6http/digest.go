package k6http

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
)

// Digest access authentication (RFC 7616), as k6's auth: "digest" does:
// the first request goes out as it is, a 401 whose WWW-Authenticate offers
// Digest is answered once with the URL's credentials. No library in the
// module graph does it; it is a few hashes.

// digestChallenge reads a "Digest k=v, k="v"" challenge; false when the
// header offers no Digest scheme.
func digestChallenge(header string) (map[string]string, bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return nil, false
	}
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		after = strings.TrimLeft(after, " ")
		var val string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(after) && after[i] != '"'; i++ {
				if after[i] == '\\' && i+1 < len(after) {
					i++
				}
				b.WriteByte(after[i])
			}
			val, rest = b.String(), after[min(i+1, len(after)):]
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
		rest = strings.TrimLeft(strings.TrimSpace(rest), ",")
		rest = strings.TrimSpace(rest)
	}
	return params, true
}

// digestAuthorization answers a challenge for method and uri (the
// request target) with the credentials, as the Authorization value.
func digestAuthorization(ch map[string]string, method, uri, user, pass string) (string, error) {
	algo := ch["algorithm"]
	if algo == "" {
		algo = "MD5"
	}
	var newHash func() hash.Hash
	switch strings.ToUpper(strings.TrimSuffix(strings.ToUpper(algo), "-SESS")) {
	case "MD5":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return "", fmt.Errorf("digest auth: unsupported algorithm %q", algo)
	}
	h := func(s string) string {
		d := newHash()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	var cn [16]byte
	_, _ = rand.Read(cn[:])
	cnonce := hex.EncodeToString(cn[:])
	realm, nonce := ch["realm"], ch["nonce"]
	ha1 := h(user + ":" + realm + ":" + pass)
	if strings.HasSuffix(strings.ToUpper(algo), "-SESS") {
		ha1 = h(ha1 + ":" + nonce + ":" + cnonce)
	}
	ha2 := h(method + ":" + uri)
	qop := ""
	for _, q := range strings.Split(ch["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			qop = "auth"
		}
	}
	const nc = "00000001"
	var resp string
	if qop != "" {
		resp = h(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
	} else {
		resp = h(ha1 + ":" + nonce + ":" + ha2)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `Digest username=%q, realm=%q, nonce=%q, uri=%q, algorithm=%s, response=%q`, user, realm, nonce, uri, algo, resp)
	if o, ok := ch["opaque"]; ok {
		fmt.Fprintf(&b, `, opaque=%q`, o)
	}
	if qop != "" {
		fmt.Fprintf(&b, `, qop=%s, nc=%s, cnonce=%q`, qop, nc, cnonce)
	}
	return b.String(), nil
}

// digestHop returns the hop that answers r's Digest challenge, or false
// when r is not one.
func (c *Client) digestHop(h *hop, r *Response) (hop, bool) {
	ch := r.digestChallenge()
	if ch == nil {
		return hop{}, false
	}
	var user, pass string
	if ui := h.t.u.User; ui != nil {
		user = ui.Username()
		pass, _ = ui.Password()
	}
	auth, err := digestAuthorization(ch, h.method, h.t.requestURI, user, pass)
	if err != nil {
		return hop{}, false
	}
	next := *h.req
	hdr := make(http.Header, len(h.req.Header)+1)
	for k, v := range h.req.Header {
		hdr[k] = v
	}
	hdr.Set("Authorization", auth)
	next.Header = hdr
	return hop{req: &next, t: h.t, method: h.method, keep: h.keep, deadline: h.deadline}, true
}

// digestChallenge returns the Digest challenge of a 401, or nil.
func (r *Response) digestChallenge() map[string]string {
	if r.Status != http.StatusUnauthorized {
		return nil
	}
	for _, v := range r.headerValues("WWW-Authenticate") {
		if p, ok := digestChallenge(v); ok {
			return p
		}
	}
	return nil
}
