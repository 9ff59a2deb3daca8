package service

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/loadlens/loadlens/loadtest"
	"github.com/loadlens/loadlens/scenarios"
	"github.com/loadlens/loadlens/store"
)

// checkLimits reports every way plan (built from spec) exceeds lim, except
// the concurrency limit, which admission checks.
func (s *Server) checkLimits(ctx context.Context, lim store.Limits, spec loadtest.TestSpec, plan loadtest.Plan) error {
	var le LimitError
	switch peak, changes := peakVUs(plan, lim.MaxVUs); {
	case changes > maxVUChanges:
		le.add("max_vus", fmt.Sprintf("options.scenarios: the VU count changes %d times over the scenarios; the agent plans at most %d: use fewer stages or VUs",
			changes, maxVUChanges))
	case peak > lim.MaxVUs:
		le.add("max_vus", fmt.Sprintf("virtual_users: the test needs up to %d VUs; the tenant's max_vus is %d", peak, lim.MaxVUs))
	}
	switch end, ok := plan.Scenarios.End(); {
	case !ok:
		le.add("max_duration", fmt.Sprintf("duration: a scenario without a duration runs until cancelled; the tenant's max_duration is %s: give it a duration", lim.MaxDuration))
	case end > lim.MaxDuration:
		le.add("max_duration", fmt.Sprintf("duration: the test runs up to %s (gracefulStop included); the tenant's max_duration is %s", end, lim.MaxDuration))
	}
	if telemetryPID(spec) {
		le.add("telemetry_pid", "telemetry.pid: reading a process of the agent's machine is not allowed through the API; use telemetry.prometheus")
	}
	allow := parseAllowlist(lim.AllowedHosts)
	for _, u := range targetURLs(spec, plan) {
		if u.partial {
			continue
		}
		if problem := s.checkHost(ctx, allow, u.field, u.raw); problem != "" {
			le.add("allowed_hosts", problem)
		}
	}
	return le.orNil()
}

// checkStorage refuses a start while the tenant's stored runs take more
// than its quota: a tenant's results, reports and specs are bounded in all,
// not only one by one.
func (s *Server) checkStorage(ctx context.Context, tenant string) error {
	used, err := s.st.StoredBytes(ctx, tenant)
	if err != nil {
		return err
	}
	if used <= s.cfg.MaxStoredBytes {
		return nil
	}
	var le LimitError
	le.add("max_storage", fmt.Sprintf("the tenant's runs take %d KiB of its quota of %d KiB; delete old ones (DELETE /load-test/{id})",
		used>>10, s.cfg.MaxStoredBytes>>10))
	return &le
}

// maxVUChanges bounds the schedule math the agent does for a tenant's
// plan: PeakVUs costs some 3 µs and 400 bytes per change of a scenario's VU
// count, and a tenant's JSON spec of many ramping stages that hand over to
// one another asked for minutes and gigabytes of it.
const maxVUChanges = 200_000

// peakVUs returns the VUs a plan needs, or at least a count over limit when
// it needs more: the configs' own counts settle most plans without the
// schedule math, whose cost grows with the changes of the VU counts. When
// those are over maxVUChanges it returns their count instead of doing it.
func peakVUs(plan loadtest.Plan, limit int64) (peak, changes int64) {
	total, highest := plan.Scenarios.VUCeiling()
	if highest > limit || total <= limit {
		return highest, 0
	}
	if changes = vuChanges(plan.Scenarios); changes > maxVUChanges {
		return 0, changes
	}
	_, peak = plan.Scenarios.PeakVUs(nil)
	return peak, changes
}

// vuChanges bounds how often the scenarios' VU counts change, from their
// configs alone: a ramping-vus stage changes it once per VU it adds or
// removes; other executors a few times.
func vuChanges(sc scenarios.Scenarios) int64 {
	var n int64
	for _, c := range sc {
		r, ok := c.(scenarios.RampingVUs)
		if !ok {
			n += 2
			continue
		}
		vus := int64(1)
		if r.StartVUs != nil {
			vus = *r.StartVUs
		}
		for _, st := range r.Stages {
			n += max(st.Target-vus, vus-st.Target) + 1
			vus = st.Target
		}
	}
	return n
}

type fieldURL struct {
	field, raw string
	// partial is a literal the script completes at run time: its host may
	// be a user name, so it is not refused before the run.
	partial bool
}

var urlLiteral = regexp.MustCompile("https?://[^\\s\"'`()<>\\\\]+")

// targetURLs lists the URLs a test will reach, as far as can be seen before
// it runs: every URL in a string of the spec's JSON form (the target, its
// absolute endpoints, telemetry sources, literals in a script and its env)
// and of the plan's, each named by its JSON path.
func targetURLs(spec loadtest.TestSpec, plan loadtest.Plan) []fieldURL {
	var out []fieldURL
	seen := map[string]bool{}
	for _, v := range []any{spec, plan.Echo()} {
		walkJSON(jsonValue(v), "", func(path string, s string) {
			for _, lit := range urlLiteral.FindAllString(s, -1) {
				// "http://ann:" + token + "@host" or "http://host:" + port:
				// a user or a host, not known before the run; the dial rule
				// checks where it goes.
				lit, partial := strings.CutSuffix(lit, ":")
				if !seen[lit] {
					seen[lit] = true
					out = append(out, fieldURL{path, lit, partial})
				}
			}
		})
	}
	return out
}

// jsonValue returns v's JSON form as maps, slices and scalars.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// walkJSON calls visit with the path of every string in v.
func walkJSON(v any, path string, visit func(path, s string)) {
	switch x := v.(type) {
	case string:
		visit(path, x)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			walkJSON(x[k], joinPath(path, k), visit)
		}
	case []any:
		for i, e := range x {
			walkJSON(e, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// telemetryPID reports a spec that asks to read a process of the agent's
// own machine: tenants may not.
func telemetryPID(spec loadtest.TestSpec) bool {
	m, _ := jsonValue(spec).(map[string]any)
	t, _ := m["telemetry"].(map[string]any)
	pid, _ := t["pid"].(float64)
	return pid != 0
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

// dialAllowlist returns the address check every connection of a run must
// pass, so that URLs a script builds at run time stay inside the tenant's
// allowed_hosts too: the allowed prefixes, plus the addresses that the
// allowed names seen in the spec resolved to. A name-allowed host that
// appears only at run time is refused (error code 1110): list it by
// address range to allow it. Even a "*" entry, which allows every host,
// never reaches link-local addresses (the cloud metadata service at
// 169.254.169.254), multicast or unspecified ones unless a prefix names
// them.
func (s *Server) dialAllowlist(ctx context.Context, a allowlist, urls []fieldURL) dialRule {
	rule := dialRule{Entries: a.raw}
	for _, u := range urls {
		pu, err := url.Parse(u.raw)
		if err != nil {
			continue
		}
		rule.Resolved = append(rule.Resolved, s.resolveAllowed(ctx, a, pu.Hostname())...)
	}
	return rule
}

// dialRule is the address check of a run's connections as data, so that a
// sandboxed run gets the same one: the allowlist, and the addresses its
// allowed names resolved to.
type dialRule struct {
	Entries  []string     `json:"entries"`
	Resolved []netip.Addr `json:"resolved,omitempty"`
}

// allow returns the check loadtest.Options.AllowIP takes.
func (d dialRule) allow() func(netip.Addr) bool {
	a := parseAllowlist(d.Entries)
	resolved := map[netip.Addr]bool{}
	for _, ip := range d.Resolved {
		resolved[ip.Unmap()] = true
	}
	return func(ip netip.Addr) bool { return a.dialAllowed(ip) || resolved[ip.Unmap()] }
}

// resolveAllowed returns the addresses of host when the allowlist names it
// (a connection to them is then allowed), or nil.
func (s *Server) resolveAllowed(ctx context.Context, a allowlist, host string) []netip.Addr {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(host); err == nil || !a.nameAllowed(host) {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	addrs, err := s.cfg.LookupHost(lctx, host)
	if err != nil {
		return nil
	}
	for i, ip := range addrs {
		addrs[i] = ip.Unmap()
	}
	return addrs
}

// dialAllowed reports whether a connection to ip is allowed by the
// prefixes, or by a "*" entry for addresses that are not link-local,
// multicast or unspecified.
func (a allowlist) dialAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if a.addrAllowed(ip) {
		return true
	}
	return a.nameAllowed("*") && !(ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified())
}
