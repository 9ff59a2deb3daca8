// Logs in with users from a CSV file read by k6/experimental/csv.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';

const users = await csv.parse(await open('./lib/users.csv'), { asObjects: true });

export const options = {
  scenarios: { logins: { executor: 'shared-iterations', vus: 3, iterations: 6 } },
  thresholds: { checks: ['rate>0.5'], 'checks{check:login ok}': ['rate>0.9'] },
};

export default function () {
  const user = users[exec.scenario.iterationInTest % users.length];
  const res = http.post(`${__ENV.BASE}/api/login`, JSON.stringify(user), { headers: { 'Content-Type': 'application/json' } });
  check(res, { 'login ok': (r) => r.status === 200 });
}
