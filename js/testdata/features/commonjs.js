// CommonJS files imported and required from an ES module, as k6 loads
// jslib's bundles.
import counter from './lib/cjs/counter.js';
import * as counterNS from './lib/cjs/counter.js';
import greet, { version } from './lib/cjs/bundle.js';
import double, { triple } from './lib/cjs/fn.js';
import umd from './lib/cjs/umd.js';
import { check } from 'k6';

const uses = require('./lib/cjs/sub/uses.js');
const again = require('./lib/cjs/counter.js');
const cycle = require('./lib/cjs/a.js');

export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };

export default function () {
  check(null, {
    'module.exports is the default export': () => counter.name === 'counter' && typeof counter.next === 'function',
    'its keys are the named exports': () => JSON.stringify(Object.keys(counterNS)) === '["name","next"]',
    'top-level return ends the file': () => counter.unreachable === undefined && counter.lost === undefined,
    'one instance per VU': () => again === counter,
    'exports.default is the default': () => greet('k6') === 'hello k6' && version === '1.0.0',
    'a function as module.exports': () => double(2) === 4 && triple(2) === 6,
    'UMD bundles': () => umd.answer === 42,
    'require from a nested file': () => uses.six === 6 && uses.hasCheck,
    'require of an ES module': () => uses.esmValue === 'esm' && uses.esmDefault === 'esm default',
    'cycles see partial exports': () => cycle.bSawA === 'a',
  });
}
