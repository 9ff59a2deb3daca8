package js_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loadlens/loadlens/js"
)

// modules is a loopback HTTPS server standing in for every module host:
// jslib.k6.io/NAME/VERSION/index.js answers testdata/jslib/NAME.js (our
// stand-ins, not jslib's files), other paths answer files, by path.
type modules struct {
	srv    *httptest.Server
	client *http.Client // dials srv whatever the URL's host
	files  map[string]string
	hits   atomic.Int64
}

// moduleServer starts a module server with extra files by path.
func moduleServer(t testing.TB, files ...string) *modules {
	t.Helper()
	m := &modules{files: map[string]string{}}
	for i := 0; i+1 < len(files); i += 2 {
		m.files[files[i]] = files[i+1]
	}
	m.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		if r.Host == "jslib.k6.io" {
			name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
			b, err := os.ReadFile(filepath.Join("testdata", "jslib", name+".js"))
			if err != nil {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write(b)
			return
		}
		body, ok := m.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(m.srv.Close)
	tr := m.srv.Client().Transport.(*http.Transport).Clone()
	addr := m.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: tr.TLSClientConfig.RootCAs, ServerName: "example.com"}
	m.client = &http.Client{Transport: tr}
	return m
}

func TestRemoteModules(t *testing.T) {
	t.Parallel()
	const lib = `
import { helper } from './helper.js';
import other from '/abs/other.js';
export const value = helper() + other;
`
	srv := moduleServer(t,
		"/lib/index.js", lib,
		"/lib/helper.js", "exports.helper = function () { return 'rel'; };",
		"/abs/other.js", "module.exports = '+abs';",
		"/big.js", strings.Repeat("// padding\n", 200),
	)
	main := `
import { value } from 'https://modules.example/lib/index.js';
const req = require('https://modules.example/lib/helper.js');
export const options = { iterations: 1 };
export default function () {
  if (value !== 'rel+abs' || req.helper() !== 'rel') { throw new Error('got ' + value); }
}
`
	cache := t.TempDir()
	cases := []struct {
		name   string
		code   string
		remote js.ModuleFetcher
		exit   int
		err    error  // wrapped by the error, when exit != 0
		msg    string // in the error
	}{
		{name: "fetched, relative and absolute paths resolve against the URL", code: main,
			remote: &js.RemoteModules{Client: srv.client, CacheDir: cache}},
		{name: "offline from the cache the run above filled", code: main,
			remote: &js.RemoteModules{CacheDir: cache, Offline: true}},
		{name: "offline with an empty cache", code: main, exit: 107, err: js.ErrModuleRefused, msg: "not in the module cache",
			remote: &js.RemoteModules{CacheDir: t.TempDir(), Offline: true}},
		{name: "no fetcher", code: main, exit: 107, err: js.ErrModuleRefused, msg: "not enabled"},
		{name: "over the size cap", code: "import 'https://modules.example/big.js';\nexport default function () {}\n", exit: 107,
			msg: "larger than 1000 bytes", remote: &js.RemoteModules{Client: srv.client, MaxBytes: 1000}},
		{name: "plain http, refused as in k6", code: "import 'http://modules.example/lib/index.js';\nexport default function () {}\n", exit: 107,
			msg: "only file and https imports", remote: &js.RemoteModules{Client: srv.client}},
		{name: "not found", code: "import 'https://modules.example/none.js';\nexport default function () {}\n", exit: 107,
			msg: "404 Not Found", remote: &js.RemoteModules{Client: srv.client}},
		{name: "a host AllowURL refuses", code: main, exit: 107, err: js.ErrModuleRefused, msg: "modules.example: not this tenant's",
			remote: &js.RemoteModules{Client: srv.client, AllowURL: func(u *url.URL) error {
				return errors.New(u.Hostname() + ": not this tenant's")
			}}},
		{name: "an address AllowIP refuses, after resolution", code: strings.ReplaceAll(main, "modules.example", "localhost:1"), exit: 107,
			err: js.ErrModuleRefused, msg: "address 127.0.0.1 is not allowed",
			remote: &js.RemoteModules{AllowIP: func(ip netip.Addr) bool { return !ip.IsLoopback() }}},
	}
	for _, c := range cases { // in order: the offline case reads what the first one cached
		t.Run(c.name, func(t *testing.T) {
			r := run{src: js.Source{Code: []byte(c.code), FS: fstest.MapFS{}}}
			r.opts.Remote = c.remote
			o := r.exec(t)
			assert.Equal(t, c.exit, o.exit, "err: %v", o.err)
			if c.exit == 0 {
				require.NoError(t, o.err)
				assert.Empty(t, o.res.IterationErrors)
				return
			}
			if c.err != nil {
				assert.ErrorIs(t, o.err, c.err)
			}
			assert.ErrorContains(t, o.err, c.msg)
		})
	}
}

// TestRemoteModulesCacheFallback checks that a module whose fetch fails
// comes from the cache, and that every successful fetch refreshes it.
func TestRemoteModulesCacheFallback(t *testing.T) {
	t.Parallel()
	srv := moduleServer(t, "/m.js", "exports.v = 1;")
	rm := &js.RemoteModules{Client: srv.client, CacheDir: t.TempDir()}
	b, err := rm.FetchModule(t.Context(), "https://h.example/m.js")
	require.NoError(t, err)
	assert.Equal(t, "exports.v = 1;", string(b))
	srv.srv.Close()
	b, err = rm.FetchModule(t.Context(), "https://h.example/m.js")
	require.NoError(t, err, "the server is gone: the cached copy")
	assert.Equal(t, "exports.v = 1;", string(b))
	_, err = rm.FetchModule(t.Context(), "https://h.example/other.js")
	assert.Error(t, err, "nothing cached for another URL")
}
