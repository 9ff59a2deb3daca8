package loadtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/loadlens/loadlens/loadtest/k6http"
	"github.com/loadlens/loadlens/metrics"
)

// HTTP returns the VU's instrumented HTTP client: its own connections and
// cookies, k6's timings, tags and samples. Requests carry the VU's tags
// (the run's, the scenario's, the group) and metadata unless they set
// VUTags or Metadata themselves; the samples reach the run by themselves.
func (vu *VU) HTTP() *k6http.Client { return vu.http }

// httpOptions are the k6http options of the plan; the errors name the
// options that cannot be used.
func (o Options) httpOptions() (k6http.Options, error) {
	conf, err := o.tlsSettings()
	var ua string
	if o.UserAgent != nil {
		ua = *o.UserAgent
	}
	return k6http.Options{
		UserAgent: ua, NoUserAgent: o.UserAgent != nil && ua == "", MaxRedirects: o.MaxRedirects, DiscardResponseBodies: o.DiscardResponseBodies,
		NoConnectionReuse: o.NoConnectionReuse, InsecureSkipTLSVerify: o.InsecureSkipTLSVerify, SystemTags: o.SystemTags,
		AllowIP: o.allowIP(), TLSConfig: conf, RedactURLs: o.RedactURLs,
	}, err
}

// blacklist parses BlacklistIPs.
func (o Options) blacklist() ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range o.BlacklistIPs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("options.blacklistIPs[%d]: %q is not a CIDR range such as 10.0.0.0/8", i, s))
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

// allowIP combines BlacklistIPs and AllowIP into the client's dial check.
func (o Options) allowIP() func(netip.Addr) bool {
	blocked, _ := o.blacklist() // validated
	if len(blocked) == 0 {
		return o.AllowIP
	}
	allow := o.AllowIP
	return func(ip netip.Addr) bool {
		ip = ip.Unmap()
		for _, p := range blocked {
			if p.Contains(ip) {
				return false
			}
		}
		return allow == nil || allow(ip)
	}
}

// systemTags are the engine's system tags that the plan enables.
type systemTags struct{ scenario, group, vu, iter bool }

func (o Options) systemTags() systemTags {
	on := o.SystemTags
	if on == nil {
		on = k6http.DefaultSystemTags()
	}
	return systemTags{scenario: slices.Contains(on, "scenario"), group: slices.Contains(on, "group"),
		vu: slices.Contains(on, "vu"), iter: slices.Contains(on, "iter")}
}

// newHTTPClient gives a VU its client; samples go to the VU's buffer.
func (r *run) newHTTPClient(vu *VU) (*k6http.Client, error) {
	opts := r.httpOpts
	opts.VUDefaults = func() (metrics.Tags, map[string]string) { return vu.tags, vu.metadata }
	if r.plan.Options.HTTPDebug != "" {
		opts.Debug, opts.DebugBodies = httpDebugLogger(r.logger, vu.id), r.plan.Options.HTTPDebug == HTTPDebugFull
	}
	return k6http.NewClient(r.registry, func(samples []metrics.Sample) { vu.add(samples...) }, opts)
}

// httpDebugLogger logs a VU's requests and responses as k6's httpDebug
// does: at info, with source=http-debug and the request's group, scenario
// and iteration, read from the request (a batch or a background request
// is not on the VU's goroutine).
func httpDebugLogger(logger *slog.Logger, vuID uint64) func(*k6http.Request, string) {
	return func(req *k6http.Request, dump string) {
		attrs := []any{"source", "http-debug", "vu", vuID}
		for _, k := range []string{"group", "scenario"} {
			if v, ok := req.VUTags.Get(k); ok {
				attrs = append(attrs, k, v)
			}
		}
		if it, ok := req.Metadata["iter"]; ok {
			attrs = append(attrs, "iter", it)
		}
		logger.Info(dump, attrs...)
	}
}

// emitIO records the bytes the VU's connections moved since the last call,
// as k6 does at the end of each iteration. Zeros are recorded once per
// iterating VU: k6's summary shows data_sent and data_received of 0 B for
// a test without network, and further zeros would add nothing to the
// counters (setup and teardown, on VU 0, record none). now is their time.
func (vu *VU) emitIO(now time.Time) {
	sent, received := vu.http.TakeIO()
	first := !vu.ioEmitted && vu.id > 0
	vu.ioEmitted = true
	if sent > 0 || first {
		vu.Emit(metrics.Sample{Metric: vu.run.builtin.dataSent, Time: now, Value: float64(sent), Tags: vu.tags})
	}
	if received > 0 || first {
		vu.Emit(metrics.Sample{Metric: vu.run.builtin.dataReceived, Time: now, Value: float64(received), Tags: vu.tags})
	}
}

// request makes one instrumented request with the VU's tags and returns
// its status (0 for a network error, which is recorded, not returned).
func (vu *VU) request(ctx context.Context, method, url string, body []byte, header http.Header, tags metrics.Tags) (int, error) {
	vu.req = k6http.Request{Method: method, URL: url, Body: body, Header: header,
		Tags: tags, VUTags: vu.tags, Metadata: vu.metadata, ResponseType: k6http.ResponseNone}
	if vu.resp == nil {
		vu.resp = new(k6http.Response)
	}
	if err := vu.http.DoInto(ctx, &vu.req, vu.resp); err != nil {
		return 0, err
	}
	return vu.resp.Status, nil
}
