package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/loadlens/loadlens/internal/redact"
)

// Bounds of the exposition a Prometheus scrape reads.
const (
	// MaxBodyBytes bounds an exposition in the text or protobuf format.
	MaxBodyBytes = 16 << 20
	// MaxOpenMetricsBytes bounds an OpenMetrics exposition (some 400
	// lines): the grammar-driven OpenMetrics parser of prometheus/common
	// is about a thousand times slower than its text parser — some 2 ms of
	// CPU and 1 MB of garbage per line (BenchmarkParse) — and that is CPU
	// the load generator needs.
	MaxOpenMetricsBytes = 16 << 10
)

// accept asks for the text format, which every client library serves and
// which parses fastest; a server that speaks only OpenMetrics may still
// answer in it.
const accept = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// Prometheus is a source that scrapes a Prometheus exposition endpoint over
// HTTP. It is safe for concurrent use.
type Prometheus struct {
	// URL is the endpoint, e.g. "http://127.0.0.1:9100/metrics".
	URL string
	// Client sends the scrapes; nil means a client of its own that opens a
	// connection per scrape and uses no proxy.
	Client *http.Client
	// AllowIP, when set and Client is nil, must approve every address a
	// scrape connects to, and a redirect is an error instead of being
	// followed: a scrape reaches only what its owner may reach.
	AllowIP func(netip.Addr) bool
}

var _ Source = (*Prometheus)(nil)

// Name returns the URL without its password.
func (p *Prometheus) Name() string { return redact.URL(p.URL) }

// Read scrapes the endpoint once. A status other than 200, a body larger
// than MaxBodyBytes and a body that does not parse are errors; ctx bounds
// the whole scrape.
func (p *Prometheus) Read(ctx context.Context) (Reading, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", "loadlens-telemetry")
	if dl, ok := ctx.Deadline(); ok {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", fmt.Sprintf("%.3f", time.Until(dl).Seconds()))
	}
	client := p.Client
	if client == nil {
		client = p.ownClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err // net/http strips the password from the URL in its errors
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, fmt.Errorf("exposition larger than %d bytes", MaxBodyBytes)
	}
	ct := resp.Header.Get("Content-Type")
	if expfmt.ResponseFormat(resp.Header).FormatType() == expfmt.TypeOpenMetrics && len(body) > MaxOpenMetricsBytes {
		return nil, fmt.Errorf("OpenMetrics exposition of %d bytes, more than %d: serve the text format (Accept: text/plain)",
			len(body), MaxOpenMetricsBytes)
	}
	return Parse(bytes.NewReader(body), ct)
}

// ownClient is the client of a Prometheus without one: a connection per
// scrape, no proxy, and AllowIP asked about each address after DNS.
func (p *Prometheus) ownClient() *http.Client {
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, DisableKeepAlives: true}}
	if allow := p.AllowIP; allow != nil {
		dialer.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !allow(ap.Addr().Unmap()) {
				return fmt.Errorf("the address %s is not allowed", address)
			}
			return nil
		}
		client.CheckRedirect = func(*http.Request, []*http.Request) error {
			return errRedirect
		}
	}
	return client
}

// errRedirect refuses a redirect of a scrape limited by AllowIP.
var errRedirect = errors.New("redirects are not followed")
