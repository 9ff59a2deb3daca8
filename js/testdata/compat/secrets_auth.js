// Reads an API token from k6/secrets (run with --secret-source=mock=token=s3cr3t).
import http from 'k6/http';
import { check } from 'k6';
import secrets from 'k6/secrets';

export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };

export default async function () {
  const token = await secrets.get('token');
  const res = http.get(`${__ENV.BASE}/api/private`, { headers: { Authorization: `Bearer ${token}` } });
  check(res, { 'authorized': (r) => r.status === 200 });
}
