// Count-based executors side by side.
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    shared: { executor: 'shared-iterations', vus: 2, iterations: 7, exec: 'shared' },
    pervu: { executor: 'per-vu-iterations', vus: 3, iterations: 2, exec: 'pervu', startTime: '0s' },
  },
  thresholds: { 'iterations{scenario:shared}': ['count==7'], 'iterations{scenario:pervu}': ['count==6'] },
};

export function shared() {
  check(exec.scenario.name, { 'in shared': (n) => n === 'shared' });
}

export function pervu() {
  check(exec.scenario.name, { 'in pervu': (n) => n === 'pervu' });
}
