// Imports jslib modules by URL, as most public k6 scripts do.
import http from 'k6/http';
import { check } from 'k6';
import { randomIntBetween, randomItem, uuidv4 } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
import { URLSearchParams } from 'https://jslib.k6.io/url/1.0.0/index.js';
import { textSummary } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';

export const options = { iterations: 5, thresholds: { 'http_reqs{name:search}': ['count==5'] } };

export default function () {
  const params = new URLSearchParams({ q: randomItem(['pizza', 'pasta']), page: String(randomIntBetween(1, 3)) });
  const res = http.get(`${__ENV.BASE}/api/items?${params.toString()}`, { tags: { name: 'search' }, headers: { 'X-Request-Id': uuidv4() } });
  check(res, { 'search ok': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { stdout: textSummary(data, { indent: ' ', enableColors: false }) };
}
