package js_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientCA makes a certificate authority and a client certificate it
// signed, as PEM.
func clientCA(t *testing.T) (pool *x509.CertPool, certPEM, keyPEM string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return pool, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}

// TestTLSOptions holds what k6 v2.2.0 did with tlsVersion,
// tlsCipherSuites and tlsAuth against loopback servers: tlsVersion tls1.2
// (as a name or {min, max}) with one cipher suite gave HTTP/2.0, tls1.2
// and that suite, tagged tls_version tls1.2; a server that requires a
// client certificate got the one of tlsAuth (status 200), also on a host
// name its domains do not list.
func TestTLSOptions(t *testing.T) {
	t.Parallel()
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	pool, certPEM, keyPEM := clientCA(t)
	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "client %s", r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)

	for _, version := range []string{`"tls1.2"`, `{ min: "tls1.2", max: "tls1.2" }`} {
		o := script(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1, insecureSkipTLSVerify: true, tlsVersion: `+version+`,
  tlsCipherSuites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'], thresholds: { 'http_reqs{tls_version:tls1.2}': ['count==1'] } };
export default function () {
  const r = http.get(__ENV.H2);
  check(r, {
    'proto': (r) => r.proto === 'HTTP/2.0',
    'version': (r) => r.tls_version === http.TLS_1_2,
    'cipher': (r) => r.tls_cipher_suite === 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  });
}`).env("H2", h2.URL).exec(t)
		require.NoError(t, o.err, o.logs.String())
		assert.Len(t, checks(t, o.res), 3, version)
		assert.Equal(t, 1.0, metricValue(t, o.res, "http_reqs{tls_version:tls1.2}", "count"))
		assert.Empty(t, o.warnings, "the options are known")
	}

	o := script(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { iterations: 1, insecureSkipTLSVerify: true,
  tlsAuth: [{ domains: ['127.0.0.1'], cert: __ENV.CERT, key: __ENV.KEY }] };
export default function () {
  check(http.get(__ENV.MTLS), { 'client certificate': (r) => r.status === 200 && r.body === 'client client' });
  check(http.get(__ENV.MTLS.replace('127.0.0.1', 'localhost')), { 'on any host': (r) => r.status === 200 });
}`).env("MTLS", mtls.URL, "CERT", certPEM, "KEY", keyPEM).exec(t)
	require.NoError(t, o.err, o.logs.String())
	assert.Len(t, checks(t, o.res), 2)

	o = script(`export const options = { tlsVersion: 'tls9', tlsCipherSuites: ['NOPE'], tlsAuth: [{ cert: 'x', key: 'y' }] };
export default function () {}`).exec(t)
	require.Error(t, o.err)
	assert.Equal(t, 104, o.exit)
	for _, want := range []string{"options.tlsVersion.min", "options.tlsCipherSuites[0]", "options.tlsAuth[0]"} {
		assert.Contains(t, o.err.Error(), want)
	}
}
