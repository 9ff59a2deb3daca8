// The jslib modules scripts import by URL: k6-utils and k6-summary.
import { randomIntBetween, randomItem, randomString, uuidv4, findBetween } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
import { textSummary, jUnit } from 'https://jslib.k6.io/k6-summary/0.0.2/index.js';
import { URL, URLSearchParams } from 'https://jslib.k6.io/url/1.0.0/index.js';
import { check, randomSeed } from 'k6';

export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };

export default function () {
  check(null, {
    'randomIntBetween': () => { const n = randomIntBetween(3, 5); return n >= 3 && n <= 5 && Number.isInteger(n); },
    'randomItem': () => ['a', 'b'].includes(randomItem(['a', 'b'])),
    'randomString': () => /^[xy]{8}$/.test(randomString(8, 'xy')) && randomString(4).length === 4,
    'uuidv4': () => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuidv4()) && uuidv4(true).length === 36,
    'findBetween': () => findBetween('<a>1</a><a>2</a>', '<a>', '</a>') === '1' && findBetween('<a>1</a><a>2</a>', '<a>', '</a>', true).join() === '1,2',
  });
  const u = new URL('https://user:pw@Example.com:443/a/./b/../c?x=1&y=a+b#frag');
  check(u, {
    'URL parts': (u) => u.protocol === 'https:' && u.hostname === 'example.com' && u.port === '' && u.pathname === '/a/c' && u.hash === '#frag',
    'URL searchParams': (u) => u.searchParams.get('y') === 'a b' && u.searchParams.getAll('x').join() === '1',
    'URL href follows searchParams': (u) => { u.searchParams.append('z', '&'); return u.href === 'https://user:pw@example.com/a/c?x=1&y=a+b&z=%26#frag'; },
    'URL relative to a base': () => new URL('../d?q', 'http://h:8080/a/b/c').href === 'http://h:8080/a/d?q',
  });
  const p = new URLSearchParams({ a: '1', b: 'two words' });
  p.set('a', '3');
  check(p.toString(), { 'URLSearchParams': (s) => s === 'a=3&b=two+words' && [...p.keys()].join() === 'a,b' });
  randomSeed(3);
  const a = randomString(10);
  randomSeed(3);
  check(randomString(10), { 'seeded': (b) => b === a });
}

export function handleSummary(data) {
  return {
    stdout: textSummary(data, { indent: ' ', enableColors: false }),
    'junit.xml': jUnit(data),
  };
}
