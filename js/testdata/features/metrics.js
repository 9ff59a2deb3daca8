// k6/metrics: Counter, Gauge, Rate, Trend, with tags and thresholds.
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { check } from 'k6';

const c = new Counter('c_count');
const g = new Gauge('g_gauge');
const r = new Rate('r_rate');
const t = new Trend('t_trend', true);
const plain = new Trend('t_plain');

export const options = {
  iterations: 4,
  thresholds: {
    c_count: ['count==10'],
    'c_count{tag:a}': ['count==4'],
    r_rate: ['rate==0.5'],
    t_trend: ['max==40', 'min==10'],
    t_plain: ['avg==2'],
    g_gauge: ['value>=1'],
  },
};

export default function () {
  c.add(1, { tag: 'a' });
  c.add(1.5);
  g.add(__ITER + 1);
  r.add(__ITER % 2 === 0);
  t.add(10 * (__ITER + 1));
  plain.add(2);
  check(c, { 'metric name': (m) => m.name === 'c_count' });
  let threw = false;
  try { new Counter('late_counter'); } catch (e) { threw = true; }
  check(threw, { 'constructor outside init throws': (v) => v });
  check(c.add('not a number'), { 'bad value is dropped': (ok) => ok === false });
}
