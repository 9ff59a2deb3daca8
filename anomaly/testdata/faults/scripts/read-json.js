// Requests each endpoint and reads its JSON body, as a test that checks
// what it gets back: an HTML page where JSON was promised throws.
import http from 'k6/http';
import { check } from 'k6';

const base = __ENV.BASE_URL;
const paths = __ENV.PATHS.split(',');

export default function () {
  for (const p of paths) {
    const res = http.get(base + p, { tags: { name: 'GET ' + p } });
    const body = res.json();
    check(body, { 'has a body': (b) => b !== null && b !== undefined });
  }
}
