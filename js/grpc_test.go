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
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/loadlens/loadlens/internal/grpctest"
	"github.com/loadlens/loadlens/metrics"
)

func grpcServer(t *testing.T, cfg grpctest.Config) string {
	t.Helper()
	srv, err := grpctest.Start(cfg)
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv.Addr
}

// TestGRPC holds what k6 v2.2.0 did with these scripts against the same
// echo server: the response of a unary call (status 0, the message in
// protojson with every field, int64 as a string; headers and trailers as
// arrays), a failed call (status 5, the empty message, error {code,
// message, details}), grpc_req_duration tagged method, name, service,
// status, url and the params' tags; a bidirectional stream (grpc_streams
// 1, 2 messages each way, the data events then end, grpc_req_duration at
// its end); the same service found by server reflection.
func TestGRPC(t *testing.T) {
	t.Parallel()
	addr := grpcServer(t, grpctest.Config{})
	r := script(`
import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
client.load(['.'], 'echo.proto');
export const options = { iterations: 1 };
export default async function () {
  client.connect(__ENV.ADDR, { plaintext: true });
  const r = client.invoke('echo.Echo/Say', { text: 'hi', n: 3, tags: ['a'] }, { metadata: { 'x-echo': 'v' }, tags: { my: 't' } });
  check(r, {
    'say status': (r) => r.status === grpc.StatusOK && r.error === null,
    'say message': (r) => JSON.stringify(r.message) === '{"text":"hi","n":"3","tags":["a"]}',
    'say metadata': (r) => r.headers['x-echo'][0] === 'v' && r.trailers['x-trailer'][0] === 'v',
  });
  const f = client.invoke('/echo.Echo/Fail', { text: 'nope', n: 5 });
  check(f, {
    'fail status': (f) => f.status === grpc.StatusNotFound,
    'fail error': (f) => JSON.stringify(f.error) === '{"code":5,"message":"nope","details":[]}',
    'fail message': (f) => JSON.stringify(f.message) === '{"text":"","n":"0","tags":[]}',
  });
  const a = await client.asyncInvoke('echo.Echo/Say', { text: 'async' });
  check(a, { 'async': (a) => a.message.text === 'async' });
  const got = [];
  const s = new grpc.Stream(client, 'echo.Echo/Chat', { tags: { st: 'x' } });
  s.on('data', (m) => got.push(m.text));
  s.on('end', () => { check(got.join(','), { 'stream': (g) => g === 'one,two' }); client.close(); });
  s.write({ text: 'one' });
  s.write({ text: 'two' });
  s.end();
}`, "echo.proto", grpctest.Proto).env("ADDR", addr)
	r.ndjson = true
	o := r.exec(t)
	require.NoError(t, o.err, o.logs.String())
	assert.Len(t, checks(t, o.res), 8)
	assert.Equal(t, 4.0, metricValue(t, o.res, "grpc_req_duration", "count"), "3 calls and the stream")
	for metric, want := range map[string]float64{"grpc_streams": 1, "grpc_streams_msgs_sent": 2, "grpc_streams_msgs_received": 2} {
		assert.Equal(t, want, metricValue(t, o.res, metric, "count"), metric)
	}
	samples := wsSamples(t, o, "grpc_req_duration")
	require.Len(t, samples, 4)
	assert.Equal(t, map[string]string{"group": "", "method": "Say", "my": "t", "name": "/echo.Echo/Say", "scenario": "default",
		"service": "echo.Echo", "status": "0", "url": addr + "/echo.Echo/Say"}, samples[0])
	assert.Equal(t, "5", samples[1]["status"])
	assert.Equal(t, map[string]string{"group": "", "method": "Chat", "name": "/echo.Echo/Chat", "scenario": "default",
		"service": "echo.Echo", "st": "x", "status": "0", "url": addr + "/echo.Echo/Chat"}, samples[3])
	assert.Positive(t, metricValue(t, o.res, metrics.DataSent, "count"), "the connection's bytes count")

	for _, cfg := range []grpctest.Config{{}, {OnlyV1Alpha: true}} {
		o = script(`
import grpc from 'k6/net/grpc';
import { check } from 'k6';
const client = new grpc.Client();
export const options = { iterations: 1 };
export default function () {
  client.connect(__ENV.ADDR, { plaintext: true, reflect: true });
  check(client.invoke('echo.Echo/Say', { text: 'refl' }), { 'reflection': (r) => r.message.text === 'refl' });
}`).env("ADDR", grpcServer(t, cfg)).exec(t)
		require.NoError(t, o.err, o.logs.String())
		assert.Len(t, checks(t, o.res), 1, "%+v", cfg)
	}
}

// serverCert makes a self-signed certificate for 127.0.0.1 and its PEM,
// the root that trusts it.
func serverCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "server"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestGRPCConnectParams holds what k6 v2.2.0 did with connect's params
// against a TLS echo server that requires a client certificate of its CA:
// tls {cacerts, cert, key} connects and the call answers 0; without the
// client certificate or without the server's root the connect throws
// (with the handshake's error when it came before the timeout); a cacerts
// or key that is no PEM throws before dialling; an unknown param throws;
// reflectMetadata goes with the reflection request and authority is the
// :authority.
func TestGRPCConnectParams(t *testing.T) {
	t.Parallel()
	clientRoots, certPEM, keyPEM := clientCA(t)
	cert, caPEM := serverCert(t)
	addr := grpcServer(t, grpctest.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: clientRoots, ClientAuth: tls.RequireAndVerifyClientCert}})
	var mu sync.Mutex
	var seen []string
	plain := grpcServer(t, grpctest.Config{StreamInterceptor: func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		md, _ := metadata.FromIncomingContext(ss.Context())
		mu.Lock()
		seen = append(seen, fmt.Sprint(info.FullMethod, md.Get("a"), md.Get(":authority")))
		mu.Unlock()
		return h(srv, ss)
	}})
	o := script(`
import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load(['.'], 'echo.proto');
export const options = { iterations: 1 };
export default function () {
  const cases = {
    'full': { tls: { cacerts: [__ENV.CA], cert: __ENV.CERT, key: __ENV.KEY } },
    'no cert': { timeout: '2s', tls: { cacerts: __ENV.CA } },
    'no root': { timeout: '2s', tls: { cert: __ENV.CERT, key: __ENV.KEY } },
    'bad cacerts': { tls: { cacerts: 'nope', cert: __ENV.CERT, key: __ENV.KEY } },
    'bad key': { tls: { cacerts: __ENV.CA, cert: __ENV.CERT, key: 'x' } },
    'unknown': { bogus: 1 },
  };
  for (const [name, p] of Object.entries(cases)) {
    try {
      client.connect(__ENV.TLS, p);
      console.log(name + ': ok ' + client.invoke('echo.Echo/Say', { text: 'x' }).status);
      client.close();
    } catch (e) {
      console.log(name + ': ' + e);
    }
  }
  client.connect(__ENV.PLAIN, { plaintext: true, reflect: true, reflectMetadata: { a: 'b' }, authority: 'myauth' });
  console.log('reflect: ' + client.invoke('echo.Echo/Say', { text: 'r' }).message.text);
}`, "echo.proto", grpctest.Proto).env("TLS", addr, "PLAIN", plain, "CA", caPEM, "CERT", certPEM, "KEY", keyPEM).exec(t)
	require.NoError(t, o.err, o.logs.String())
	for name, want := range map[string]string{
		"full": "full: ok 0", "no cert": "no cert: GoError: grpc.Client.connect: " + addr, "no root": "no root: GoError: grpc.Client.connect: " + addr,
		"bad cacerts": "params.tls: cacerts[0]: no PEM certificate", "bad key": "params.tls: cert, key:",
		"unknown": `unknown param \"bogus\"`, "reflect": "reflect: r",
	} {
		lines := o.logs.lines(name + ": ")
		require.Len(t, lines, 1, "%s: %s", name, o.logs)
		assert.Contains(t, lines[0], want, name)
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Contains(t, seen, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo[b] [myauth]")
}
