// k6/execution: vu, scenario, instance, test; mutable vu tags; scenario env.
import exec, { vu, test } from 'k6/execution';
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    one: { executor: 'per-vu-iterations', vus: 2, iterations: 2, exec: 'run', tags: { sc: 'one' }, env: { SCEN: 'one' } },
  },
  thresholds: {
    'http_reqs{mine:x1}': ['count==2'],
    'http_reqs{mine:x2}': ['count==2'],
    'http_reqs{sc:one}': ['count==4'],
  },
};

export function run() {
  check(exec.vu.idInTest, { 'vu id': (id) => id === __VU && id >= 1 && id <= 2 && exec.vu.idInInstance === id });
  check(exec.vu.iterationInScenario, { 'iteration in scenario': (i) => i === __ITER && exec.vu.iterationInInstance === __ITER });
  check(exec.scenario, {
    'scenario name': (s) => s.name === 'one',
    'scenario executor': (s) => s.executor === 'per-vu-iterations',
    'scenario startTime': (s) => s.startTime > 1e12 && s.startTime <= Date.now(),
    'scenario progress': (s) => s.progress >= 0 && s.progress <= 1,
  });
  check(exec.instance, {
    'vusInitialized': (i) => i.vusInitialized === 2,
    'currentTestRunDuration': (i) => i.currentTestRunDuration > 0,
  });
  check(__ENV, { 'scenario env': (e) => e.SCEN === 'one', 'plan env': (e) => e.GLOBAL === 'g' });
  exec.vu.tags.mine = 'x' + __VU;
  check(exec.vu.tags, { 'tags readable': (t) => t.mine === 'x' + __VU && t.scenario === 'one' && t.sc === 'one' });
  exec.vu.metrics.metadata.trace = 'abc';
  check(exec.vu.metrics.metadata.trace, { 'metadata readable': (m) => m === 'abc' });
  http.get(__ENV.BASE + '/echo');
  check(test.options, {
    'test.options scenarios': (o) => o.scenarios.one.executor === 'per-vu-iterations',
    'test.options frozen': (o) => Object.isFrozen(o),
  });
  check(vu === exec.vu, { 'named export is the default export property': (b) => b });
}
