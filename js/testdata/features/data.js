// k6/data: SharedArray built once per process and read by every VU.
import { SharedArray } from 'k6/data';
import { check } from 'k6';

const users = new SharedArray('users', function () {
  console.log('building users');
  return [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
});
const again = new SharedArray('users', function () {
  throw new Error('the second SharedArray of a name must reuse the first');
});

export const options = { vus: 3, iterations: 6 };

export default function () {
  check(users, {
    'length': (u) => u.length === 3 && again.length === 3,
    'element': (u) => ['a', 'b', 'c'].includes(u[__ITER % 3].name),
    'iterable': (u) => [...u].map((x) => x.name).join() === 'a,b,c',
    'out of range': (u) => u[3] === undefined,
  });
  let threw = false;
  try { users[0] = { name: 'z' }; } catch (e) { threw = true; }
  check(threw, { 'read-only': (t) => t && users[0].name === 'a' });
}
