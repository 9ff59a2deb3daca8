import http from 'k6/http';
import { group, check } from 'k6';
import { Trend } from 'k6/metrics';
const t = new Trend('custom_wait', true);
export const options = {
  scenarios: {
    browse: { executor: 'shared-iterations', vus: 1, iterations: 3, exec: 'browse' },
    buy: { executor: 'per-vu-iterations', vus: 1, iterations: 2, exec: 'buy', startTime: '500ms' },
  },
  thresholds: { 'http_req_duration{scenario:buy}': ['p(95)<2000'], checks: ['rate>0.5'] },
};
const B = __ENV.BASE;
export function browse() {
  group('catalogue', () => {
    check(http.get(B + '/api/products'), { 'list 200': (r) => r.status === 200 });
    group('detail', () => { http.get(B + '/api/products/1'); });
  });
  t.add(3);
}
export function buy() {
  group('login', () => { check(http.get(B + '/status/404'), { 'is 200': (r) => r.status === 200 }); });
  http.get(B + '/');
}
