package service

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/store"
)

// checkLimits reports every way plan (built from spec) exceeds lim, except
// the concurrency limit, which admission checks.
func (s *Server) checkLimits(ctx context.Context, lim store.Limits, spec loadtest.TestSpec, plan loadtest.Plan) error {
	var le LimitError
	if _, peak := plan.Scenarios.PeakVUs(nil); peak > lim.MaxVUs {
		le.add("max_vus", fmt.Sprintf("virtual_users: the test needs up to %d VUs; the tenant's max_vus is %d", peak, lim.MaxVUs))
	}
	switch end, ok := plan.Scenarios.End(); {
	case !ok:
		le.add("max_duration", fmt.Sprintf("duration: a scenario without a duration runs until cancelled; the tenant's max_duration is %s: give it a duration", lim.MaxDuration))
	case end > lim.MaxDuration:
		le.add("max_duration", fmt.Sprintf("duration: the test runs up to %s (gracefulStop included); the tenant's max_duration is %s", end, lim.MaxDuration))
	}
	allow := parseAllowlist(lim.AllowedHosts)
	for _, u := range targetURLs(spec, plan) {
		if problem := s.checkHost(ctx, allow, u.field, u.raw); problem != "" {
			le.add("allowed_hosts", problem)
		}
	}
	return le.orNil()
}

type fieldURL struct{ field, raw string }

var urlLiteral = regexp.MustCompile("https?://[^\\s\"'`()<>\\\\]+")

// targetURLs lists the URLs a test will send load to, as far as can be
// seen before it runs: the request plan's base URL and absolute endpoint
// paths, and URL literals in a script and its env.
func targetURLs(spec loadtest.TestSpec, plan loadtest.Plan) []fieldURL {
	var out []fieldURL
	for _, t := range []*loadtest.Target{spec.Target, plan.Target} {
		if t == nil {
			continue
		}
		out = append(out, fieldURL{"target.base_url", t.BaseURL})
		for i, e := range t.Endpoints {
			if strings.Contains(e.Path, "://") {
				out = append(out, fieldURL{fmt.Sprintf("target.endpoints[%d].path", i), e.Path})
			}
		}
	}
	for _, lit := range urlLiteral.FindAllString(spec.Script, -1) {
		out = append(out, fieldURL{"script", lit})
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		for _, lit := range urlLiteral.FindAllString(spec.Env[k], -1) {
			out = append(out, fieldURL{"env." + k, lit})
		}
	}
	seen := map[fieldURL]bool{}
	return slices.DeleteFunc(out, func(u fieldURL) bool {
		dup := seen[u]
		seen[u] = true
		return dup
	})
}

// allowlist is a parsed Limits.AllowedHosts.
type allowlist struct {
	prefixes []netip.Prefix
	names    []string // lower case; "*.example.com" matches subdomains
	raw      []string
}

func parseAllowlist(entries []string) allowlist {
	a := allowlist{raw: entries}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if p, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, p.Masked())
		} else if ip, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		} else if e != "" {
			a.names = append(a.names, strings.TrimSuffix(e, "."))
		}
	}
	return a
}

func (a allowlist) nameAllowed(host string) bool {
	for _, n := range a.names {
		if n == host || n == "*" {
			return true
		}
		if rest, ok := strings.CutPrefix(n, "*."); ok && strings.HasSuffix(host, "."+rest) {
			return true
		}
	}
	return false
}

func (a allowlist) addrAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// checkHost returns a problem when the URL's host is not allowed: listed by
// name, or an address (or a name all of whose addresses are) inside an
// allowed prefix.
func (s *Server) checkHost(ctx context.Context, a allowlist, field, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "" // the spec's own validation reports it
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	notAllowed := fmt.Sprintf("%s: host %q is not in the tenant's allowed_hosts (%s)", field, host, strings.Join(a.raw, ", "))
	if a.nameAllowed(host) {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if a.addrAllowed(ip) {
			return ""
		}
		return notAllowed
	}
	if len(a.prefixes) == 0 {
		return notAllowed
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := s.cfg.LookupHost(lctx, host)
	if err != nil || len(addrs) == 0 {
		return fmt.Sprintf("%s: host %q could not be resolved to check it against the tenant's allowed_hosts", field, host)
	}
	for _, ip := range addrs {
		if !a.addrAllowed(ip) {
			return fmt.Sprintf("%s: host %q resolves to %s, which is not in the tenant's allowed_hosts (%s)", field, host, ip, strings.Join(a.raw, ", "))
		}
	}
	return ""
}
