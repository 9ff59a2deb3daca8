package js

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ModuleFetcher fetches the source of a module that a script imports or
// requires by http(s) URL. Load calls it while it links the script, once
// per URL; it may be called from several goroutines.
type ModuleFetcher interface {
	FetchModule(ctx context.Context, url string) ([]byte, error)
}

// Defaults of RemoteModules.
const (
	DefaultModuleTimeout  = 30 * time.Second
	DefaultModuleMaxBytes = 10 << 20
)

// ErrModuleRefused is wrapped by the errors of modules that
// RemoteModules.AllowURL or AllowIP refused, and of modules missing from
// the cache in offline mode.
var ErrModuleRefused = errors.New("remote module refused")

// RemoteModules fetches remote modules over HTTPS, as k6 does at init,
// with a timeout, a size cap and an optional on-disk cache. The zero
// value fetches from anywhere without a cache; set AllowURL and AllowIP
// to confine it (the agent allows a tenant's hosts and refuses internal
// addresses). It is safe for concurrent use.
type RemoteModules struct {
	// Client makes the requests. nil means a client of its own whose
	// dialer asks AllowIP about each address it connects to, after DNS
	// resolution (so a name that resolves to an internal address later
	// is refused too). A Client given here is used as it is: AllowIP
	// does not apply to it.
	Client *http.Client
	// AllowURL, when set, is asked about each URL before it is fetched
	// and about each redirect; an error refuses the module.
	AllowURL func(*url.URL) error
	// AllowIP, when set, is asked about each address the default client
	// dials; false refuses the connection.
	AllowIP func(netip.Addr) bool
	// Timeout bounds one fetch; 0 means DefaultModuleTimeout.
	Timeout time.Duration
	// MaxBytes caps a module's size; 0 means DefaultModuleMaxBytes.
	MaxBytes int64
	// CacheDir keeps each fetched module in a file named after its URL's
	// SHA-256; "" keeps none. When a fetch fails, the cached copy is
	// used.
	CacheDir string
	// Offline reads modules from CacheDir only, never from the network.
	Offline bool
}

var _ ModuleFetcher = (*RemoteModules)(nil)

// FetchModule implements ModuleFetcher.
func (r *RemoteModules) FetchModule(ctx context.Context, rawURL string) ([]byte, error) {
	cached := r.cachePath(rawURL)
	if r.Offline {
		if cached == "" {
			return nil, fmt.Errorf("%w: offline, and no module cache", ErrModuleRefused)
		}
		b, err := os.ReadFile(cached)
		if err != nil {
			return nil, fmt.Errorf("%w: offline, and not in the module cache (%s)", ErrModuleRefused, r.CacheDir)
		}
		return b, nil
	}
	b, err := r.fetch(ctx, rawURL)
	if err != nil {
		if errors.Is(err, ErrModuleRefused) || cached == "" {
			return nil, err
		}
		if c, cerr := os.ReadFile(cached); cerr == nil {
			return c, nil
		}
		return nil, err
	}
	if cached != "" {
		if err := writeFileAtomic(cached, b); err != nil {
			return nil, fmt.Errorf("module cache: %w", err)
		}
	}
	return b, nil
}

// cachePath is where the cache keeps a URL's module; "" without a cache.
func (r *RemoteModules) cachePath(rawURL string) string {
	if r.CacheDir == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(r.CacheDir, hex.EncodeToString(sum[:])+".js")
}

// fetch GETs a module.
func (r *RemoteModules) fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if err := r.allow(u); err != nil {
		return nil, err
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultModuleTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	limit := r.MaxBytes
	if limit <= 0 {
		limit = DefaultModuleMaxBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: the module is larger than %d bytes", rawURL, limit)
	}
	return b, nil
}

// allow asks AllowURL about u; only https is fetched, as in k6.
func (r *RemoteModules) allow(u *url.URL) error {
	if u.Scheme != "https" {
		return fmt.Errorf("%w: %s: only https modules", ErrModuleRefused, u.Redacted())
	}
	if r.AllowURL == nil {
		return nil
	}
	if err := r.AllowURL(u); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrModuleRefused, u.Redacted(), err)
	}
	return nil
}

// client returns the client that fetches, with AllowURL on redirects.
func (r *RemoteModules) client() *http.Client {
	c := r.Client
	if c == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, Control: r.control}
		c = &http.Client{Transport: &http.Transport{
			DialContext: d.DialContext, TLSHandshakeTimeout: 10 * time.Second, MaxResponseHeaderBytes: 1 << 20,
		}}
	}
	cp := *c
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return r.allow(req.URL)
	}
	return &cp
}

// control asks AllowIP about the address a connection is about to dial:
// the resolved one, whatever name the URL had.
func (r *RemoteModules) control(_, address string, _ syscall.RawConn) error {
	if r.AllowIP == nil {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	if !r.AllowIP(ap.Addr().Unmap()) {
		return fmt.Errorf("%w: address %s is not allowed", ErrModuleRefused, ap.Addr())
	}
	return nil
}

// writeFileAtomic writes a file through a temporary one, so that a
// concurrent reader sees the old file or the new one.
func writeFileAtomic(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".module-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}
