// k6/http: verbs, params, bodies, the Response object, batch, url tags.
import http from 'k6/http';
import { check } from 'k6';

const B = __ENV.BASE;

export const options = { iterations: 1 };

export default async function () {
  let r = http.get(`${B}/echo?x=1`, { headers: { 'X-Test': 'a' }, tags: { name: 'echo-get' } });
  check(r, {
    'get status': (r) => r.status === 200 && r.status_text === '200 OK',
    'get method': (r) => r.json('method') === 'GET',
    'get header sent': (r) => r.json('headers.X-Test') === 'a',
    'get query': (r) => r.json('query') === 'x=1',
    'headers canonical': (r) => r.headers['Content-Type'] === 'application/json',
    'timings': (r) => r.timings.duration >= 0 && r.timings.waiting > 0 && typeof r.timings.blocked === 'number',
    // k6 v2.2.0: a Go struct's fields, which take numbers; none added or deleted
    'timings fields': (r) => {
      const t = r.timings;
      const keys = JSON.stringify(Object.keys(t)) === '["duration","blocked","looking_up","connecting","tls_handshaking","sending","waiting","receiving"]';
      t.sending = '2';
      let added = true, deleted = true;
      try { t.extra = 1; } catch (e) { added = !(e instanceof TypeError); }
      try { delete t.blocked; } catch (e) { deleted = !(e instanceof TypeError); }
      return keys && t.sending === 2 && !added && !deleted && t.extra === undefined && t === r.timings;
    },
    'url': (r) => r.url === `${B}/echo?x=1`,
    'proto': (r) => r.proto === 'HTTP/1.1',
    'no error': (r) => r.error === '' && r.error_code === 0,
    'request echo': (r) => r.request.method === 'GET' && r.request.url === `${B}/echo?x=1`,
    'json whole': (r) => r.json().method === 'GET' && r.json() === r.json(),
    'json missing': (r) => r.json('nope.nothing') === null,
    'remote ip': (r) => r.remote_ip === '127.0.0.1' && r.remote_port > 0,
  });
  r = http.post(`${B}/echo`, 'plain body');
  check(r, { 'post string': (r) => r.json('body') === 'plain body' && r.json('method') === 'POST' });
  r = http.put(`${B}/echo`, JSON.stringify({ a: 1 }), { headers: { 'Content-Type': 'application/json' } });
  check(r, { 'put json': (r) => r.json('method') === 'PUT' && JSON.parse(r.json('body')).a === 1 });
  r = http.patch(`${B}/echo`, { a: '1', b: 'x y', c: null });
  check(r, { 'patch form': (r) => r.json('body') === 'a=1&b=x+y&c=' && r.json('headers.Content-Type') === 'application/x-www-form-urlencoded' });
  // k6 v2.2.0 sent n=1&topping=onion&topping=bacon: a field per element
  r = http.post(`${B}/echo`, { topping: ['onion', 'bacon'], n: 1 });
  check(r, { 'form array': (r) => r.json('body') === 'n=1&topping=onion&topping=bacon' });
  check(http.del(`${B}/echo`), { 'del': (r) => r.json('method') === 'DELETE' });
  check(http.options(`${B}/echo`), { 'options': (r) => r.json('method') === 'OPTIONS' });
  check(http.head(`${B}/echo`), { 'head': (r) => r.status === 200 && r.body === '' });
  check(http.request('patch', `${B}/echo`, 'x'), { 'request': (r) => r.json('method') === 'PATCH' });

  const buf = new Uint8Array([104, 105, 0, 255]).buffer;
  check(http.post(`${B}/echo`, buf), { 'post ArrayBuffer': (r) => r.json('length') === 4 });
  r = http.post(`${B}/echo`, { f: http.file('abc', 'a.txt', 'text/plain'), k: 'v' });
  check(r, {
    'multipart type': (r) => r.json('headers.Content-Type').startsWith('multipart/form-data; boundary='),
    'multipart file': (r) => r.json('body').includes('filename="a.txt"') && r.json('body').includes('abc'),
    'multipart field': (r) => r.json('body').includes('name="k"'),
  });
  check(http.post(`${B}/echo`, 'hello hello hello', { compression: 'gzip' }), {
    'gzip body': (r) => r.json('headers.Content-Encoding') === 'gzip' && r.json('plain') === 'hello hello hello',
  });
  const compressed = (c) => http.post(`${B}/echo`, 'hello hello hello', { compression: c });
  const sent = (r, ce) => r.json('plain') === 'hello hello hello' && r.json('body') !== 'hello hello hello' &&
    r.json('headers.Content-Encoding') === ce && r.json('headers.Content-Length') === String(r.json('length'));
  check(compressed('deflate'), { 'deflate body': (r) => sent(r, 'deflate') });
  check(compressed('br'), { 'br body': (r) => sent(r, 'br') });
  check(compressed('zstd'), { 'zstd body': (r) => sent(r, 'zstd') });
  check(compressed('gzip, br'), { 'gzip then br body': (r) => sent(r, 'gzip, br') });
  check(compressed('zstd,deflate'), { 'zstd then deflate body': (r) => sent(r, 'zstd, deflate') });
  let badCompression = '';
  try { http.post(`${B}/echo`, 'x', { compression: 'lz4' }); } catch (e) { badCompression = String(e); }
  check(badCompression, { 'unknown compression throws': (e) => e.includes('params.compression') && e.includes('"lz4"') });

  r = http.get(`${B}/bytes`, { responseType: 'binary' });
  check(r, { 'binary body': (r) => { const a = new Uint8Array(r.body); return a.length === 4 && a[3] === 255; } });
  check(http.get(`${B}/bytes`, { responseType: 'none' }), { 'none body': (r) => r.body === null && r.status === 200 });
  check(http.get(`${B}/bytes`), { 'text body': (r) => typeof r.body === 'string' && r.body.length > 0 });

  r = http.get(`${B}/slow?ms=400`, { timeout: '100ms' });
  check(r, { 'timeout': (r) => r.status === 0 && r.error_code === 1050 && r.error !== '' });
  let threw = false;
  try { http.get(`${B}/slow?ms=400`, { timeout: 50, throw: true }); } catch (e) { threw = true; }
  check(threw, { 'throw option': (t) => t });

  check(http.get(`${B}/redirect/2`), { 'redirects followed': (r) => r.status === 200 && r.url === `${B}/echo` });
  check(http.get(`${B}/redirect/2`, { redirects: 0 }), { 'redirects: 0': (r) => r.status === 302 });

  check(http.get(`${B}/echo`, { cookies: { c1: 'v1', c2: { value: 'v2' } } }), {
    'params cookies': (r) => r.json('cookies.c1') === 'v1' && r.json('cookies.c2') === 'v2',
  });
  http.get(`${B}/setcookie?name=s&value=1`);
  check(http.get(`${B}/echo`), { 'jar keeps set-cookie': (r) => r.json('cookies.s') === '1' });
  check(http.get(`${B}/echo`, { headers: { 'x-mine': 'yes' }, cookies: { pc: 'p' } }), {
    'request headers: user agent as sent': (r) => r.request.headers['User-Agent'][0] === r.json('headers.User-Agent') && r.json('headers.User-Agent') !== '',
    'request headers: cookie as sent': (r) => r.request.headers.Cookie[0] === r.json('headers.Cookie') && r.json('cookies.s') === '1' && r.json('cookies.pc') === 'p',
    'request headers: the script\'s, canonical': (r) => r.request.headers['X-Mine'][0] === 'yes' && r.request.headers.Host === undefined,
  });
  check(http.get(`${B}/echo`, { headers: { 'User-Agent': 'mine/1' } }), {
    'request headers: own user agent': (r) => r.request.headers['User-Agent'].length === 1 && r.request.headers['User-Agent'][0] === 'mine/1' && r.json('headers.User-Agent') === 'mine/1',
  });
  const jar = http.cookieJar();
  jar.set(B, 'j', 'jv');
  check(jar.cookiesForURL(B), { 'jar cookiesForURL': (c) => c.j[0] === 'jv' && c.s[0] === '1' });
  check(http.get(`${B}/echo`), { 'jar.set sent': (r) => r.json('cookies.j') === 'jv' });
  jar.delete(B, 'j');
  check(http.get(`${B}/echo`), { 'jar.delete': (r) => r.json('cookies.j') === null });
  const own = new http.CookieJar();
  own.set(B, 'mine', 'm');
  check(http.get(`${B}/echo`, { jar: own }), {
    'own jar sent': (r) => r.json('cookies.mine') === 'm',
    'own jar replaces the VU jar': (r) => r.json('cookies.s') === null,
  });
  http.get(`${B}/setcookie?name=o&value=3`, { jar: own });
  check(own.cookiesForURL(B), { 'own jar stores set-cookie': (c) => c.o[0] === '3' });
  check(http.cookieJar().cookiesForURL(B), { 'VU jar untouched by own jar': (c) => c.o === undefined && c.s[0] === '1' });
  check(http.get(`${B}/setcookie?name=s2&value=2`), { 'response cookies': (r) => r.cookies.s2[0].value === '2' });

  const auth = B.replace('http://', 'http://user:pass@');
  check(http.get(`${auth}/basic`), { 'basic auth': (r) => r.status === 200 });

  // http_req_failed: 2 unexpected statuses, 1 expected by params, 1 by the callback.
  http.get(`${B}/status/404`);
  http.get(`${B}/status/500`);
  check(http.get(`${B}/status/404`, { responseCallback: http.expectedStatuses(404) }), { 'callback 404': (r) => r.status === 404 && r.error_code === 1404 });

  r = http.get(http.url`${B}/echo?id=${5}`);
  check(r, { 'url tag': (r) => r.json('query') === 'id=5' });

  const rs = http.batch([['GET', `${B}/echo?b=1`], { method: 'POST', url: `${B}/echo`, body: 'x' }, `${B}/echo?b=3`]);
  check(rs, { 'batch array': (rs) => rs.length === 3 && rs[0].json('query') === 'b=1' && rs[1].json('method') === 'POST' && rs[2].status === 200 });
  const ro = http.batch({ a: `${B}/echo?o=a`, b: ['GET', `${B}/echo?o=b`] });
  check(ro, { 'batch object': (ro) => ro.a.json('query') === 'o=a' && ro.b.json('query') === 'o=b' });

  r = await http.asyncRequest('GET', `${B}/echo?async=1`);
  check(r, { 'asyncRequest': (r) => r.json('query') === 'async=1' });

  http.setResponseCallback(http.expectedStatuses({ min: 200, max: 499 }));
  http.get(`${B}/status/418`);
}
