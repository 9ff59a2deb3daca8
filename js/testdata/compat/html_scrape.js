// Scrapes a page with k6/html and follows what it found.
import http from 'k6/http';
import { check } from 'k6';
import { parseHTML } from 'k6/html';

export const options = { vus: 1, iterations: 3, thresholds: { checks: ['rate==1'] } };

export default function () {
  const res = http.get(`${__ENV.BASE}/page`);
  const doc = parseHTML(res.body);
  const links = doc.find('a.item').map((i, a) => a.attr('href'));
  check(doc, {
    'title': (d) => d.find('title').text() === 'Shop',
    'three links': () => links.length === 3,
    'csrf token': (d) => d.find('input[name=csrf]').val() === 'tok123',
  });
  check(res.html().find('h1'), { 'heading via Response.html': (h) => h.text() === 'Menu' });
  const item = http.get(`${__ENV.BASE}${links[0]}`);
  check(item, { 'followed a link': (r) => r.status === 200 });
}
