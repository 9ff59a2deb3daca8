// k6: check, group, sleep, fail, randomSeed.
import { check, group, sleep, fail, randomSeed } from 'k6';

export const options = {
  iterations: 2,
  thresholds: { 'checks{custom:yes}': ['rate==1'], 'group_duration{group:::outer::inner}': ['max>=0'] },
};

export default function () {
  const g = group('outer', () => group('inner', () => 42));
  check(g, { 'group returns fn result': (v) => v === 42 });
  check(1, { 'tagged check': () => true }, { custom: 'yes' });
  check(null, { 'truthy value': 'yes', 'falsy value': 0 });
  let caught = null;
  try {
    check(1, { 'throwing check': () => { throw new Error('inside'); } });
  } catch (e) {
    caught = e.message;
  }
  check(caught, { 'check rethrows': (c) => c === 'inside' });
  const t0 = Date.now();
  sleep(0.05);
  check(Date.now() - t0, { 'sleep waits': (d) => d >= 45 });
  randomSeed(7);
  const a = Math.random();
  randomSeed(7);
  check(Math.random(), { 'randomSeed repeats': (b) => b === a });
  try {
    fail('boom');
  } catch (e) {
    check(String(e), { 'fail throws': (s) => s.includes('boom') });
  }
  let bad = null;
  try { group('a::b', () => 1); } catch (e) { bad = e; }
  check(bad, { 'group name with colons throws': (e) => e !== null });
  check(check(1, { 'inner ok': () => true }), { 'check returns true': (v) => v === true });
}
