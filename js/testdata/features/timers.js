// Timers and async iterations: an iteration ends when its timers are done.
import { setTimeout as kSetTimeout } from 'k6/timers';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const late = new Counter('late_timers');

export const options = { vus: 2, iterations: 4, thresholds: { late_timers: ['count==4'] } };

export default async function () {
  const order = [];
  setTimeout(() => order.push('t2'), 20);
  kSetTimeout(() => order.push('t1'), 5);
  await new Promise((resolve) => setTimeout(resolve, 30));
  check(order.join(), { 'timers in order': (s) => s === 't1,t2' });
  let n = 0;
  await new Promise((resolve) => {
    const id = setInterval(() => { n++; if (n === 3) { clearInterval(id); setTimeout(resolve, 20); } }, 5);
  });
  check(n, { 'setInterval and clearInterval': (v) => v === 3 });
  const cancelled = setTimeout(() => { throw new Error('a cleared timer ran'); }, 5);
  clearTimeout(cancelled);
  setTimeout(() => late.add(1), 10);
}
