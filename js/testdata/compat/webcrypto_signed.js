// Signs each request body with HMAC-SHA256 through WebCrypto.
import http from 'k6/http';
import { check } from 'k6';

export const options = { iterations: 3, thresholds: { checks: ['rate==1'] } };

const hex = (buf) => Array.from(new Uint8Array(buf)).map((b) => b.toString(16).padStart(2, '0')).join('');

export default async function () {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('shared-key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const body = JSON.stringify({ order: __ITER });
  const sig = hex(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body)));
  const res = http.post(`${__ENV.BASE}/api/signed`, body, { headers: { 'X-Signature': sig } });
  check(res, { 'signature accepted': (r) => r.status === 200 });
}
