package k6http

import (
	"net/http"
	"strings"
)

// cookieHeader returns the Cookie header of a hop: the request's own
// Cookie header, then the jar's cookies for the URL (Request.Jar's, else
// the client's) and the request's cookies (k6's params.cookies; Replace
// drops the jar's cookie of the same name). It makes nothing when neither
// the jar nor the request has any.
func (c *Client) cookieHeader(h *hop, user string) string {
	own := h.req.Jar
	if own == nil && !c.jarUsed && len(h.req.Cookies) == 0 {
		return user
	}
	var jar []*http.Cookie
	switch {
	case own != nil:
		jar = own.Cookies(h.t.u)
	case c.jarUsed:
		jar = c.jar.Cookies(h.t.u)
	}
	if len(jar) == 0 && len(h.req.Cookies) == 0 {
		return user
	}
	var b strings.Builder
	b.WriteString(user)
	add := func(name, value string) {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString((&http.Cookie{Name: name, Value: value}).String())
	}
	for _, jc := range jar {
		replaced := false
		for _, rc := range h.req.Cookies {
			if rc.Replace && rc.Name == jc.Name {
				replaced = true
				break
			}
		}
		if !replaced {
			add(jc.Name, jc.Value)
		}
	}
	for _, rc := range h.req.Cookies {
		add(rc.Name, rc.Value)
	}
	return b.String()
}

// storeCookies puts the cookies a response set into the jar: Request.Jar
// when set, else the client's.
func (c *Client) storeCookies(h *hop, lines []string) {
	var cs []*http.Cookie
	for _, line := range lines {
		if ck, err := http.ParseSetCookie(line); err == nil {
			cs = append(cs, ck)
		}
	}
	if len(cs) > 0 && h.req.Jar != nil {
		h.req.Jar.SetCookies(h.t.u, cs)
		return
	}
	if len(cs) > 0 {
		c.jar.SetCookies(h.t.u, cs)
		c.jarUsed = true
	}
}
