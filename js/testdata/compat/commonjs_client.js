// QuickPizza-style smoke test with a CommonJS client library.
import { check, group, sleep } from 'k6';
import Client from './lib/client.js';

const client = new Client(__ENV.BASE);

export const options = {
  vus: 2,
  iterations: 6,
  thresholds: { http_req_failed: ['rate<0.01'], checks: ['rate>0.99'] },
};

export default function () {
  group('browse', () => {
    const res = client.items();
    check(res, {
      'items status is 200': (r) => r.status === 200,
      'three items': (r) => r.json('items').length === 3,
    });
  });
  group('login', () => {
    const res = client.login('ann', 'demo');
    check(res, { 'logged in': (r) => r.json('token') !== undefined });
  });
  sleep(0.05);
}
