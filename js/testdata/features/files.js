// Imports (default, named, namespace, relative, nested), open(), console,
// require() and __ENV/__VU/__ITER.
import { check } from 'k6';
import double, { triple, VERSION } from './lib/helper.js';
import * as helper from './lib/helper.js';
import { deep } from './lib/nested/deep.js';

const http = require('k6/http');
const text = open('./lib/data.txt');
const bin = open('lib/data.txt', 'b');

export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 1 } } };

console.log('init', __VU, { env: __ENV.MODE });

export default function () {
  console.info('iteration', __ITER, 'of vu', __VU);
  console.warn('a warning');
  console.error('an error');
  console.debug('debug');
  check(null, {
    'default import': () => double(2) === 4,
    'named import': () => triple(2) === 6 && VERSION === '1.0',
    'namespace import': () => helper.default(1) === 2 && helper.triple(1) === 3,
    'nested relative import': () => deep() === 'deep:1.0',
    'open text': () => text === 'line one\nline two\n',
    'open binary': () => bin instanceof ArrayBuffer && bin.byteLength === text.length,
    'require k6 module': () => typeof http.get === 'function',
    '__ENV': () => __ENV.MODE === 'test',
    '__VU and __ITER': () => __VU >= 1 && __ITER === 0,
    'global': () => global === globalThis,
  });
}
