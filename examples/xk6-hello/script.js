// A k6 script that uses the k6/x/hello extension.
import hello, { greet } from 'k6/x/hello';
import { check } from 'k6';

export const options = {
  scenarios: { hi: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } },
  thresholds: { hello_values: ['max<100'] },
};

export default function () {
  const msg = greet(`VU ${__VU}`);
  check(msg, { 'greeted': (m) => m === `Hello, VU ${__VU}!` });
  hello.record(__ITER + 1);
  check(hello.greeted(), { 'counted per VU': (n) => n === __ITER + 1 });
}

export function handleSummary(data) {
  const checks = data.metrics.checks.values;
  return { stdout: `hello: ${checks.passes} checks passed, ${checks.fails} failed, hello_values max ${data.metrics.hello_values.values.max}\n` };
}
