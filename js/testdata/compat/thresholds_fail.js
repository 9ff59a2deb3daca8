// Crossed thresholds end the run with k6's exit code 99.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  iterations: 4,
  thresholds: { http_req_failed: ['rate<0.1'], 'http_req_duration{name:slow}': ['max<1'], checks: ['rate>0.4'] },
};

export default function () {
  const ok = http.get(`${__ENV.BASE}/api/items`);
  const missing = http.get(`${__ENV.BASE}/api/missing`);
  http.get(`${__ENV.BASE}/api/slow`, { tags: { name: 'slow' } });
  check(ok, { 'found': (r) => r.status === 200 });
  check(missing, { 'missing found': (r) => r.status === 200 });
}
