// check() at its edges: which keys are checks and in which order, getters,
// arrays and strings as sets, what a check function receives, truthiness,
// and what throws. Every case's outcome becomes the name of a check, so
// that k6's summary records it.
import { check } from 'k6';

export const options = { iterations: 1, vus: 1 };

export default function () {
  const outcomes = [];
  const run = (name, fn) => {
    let got;
    try {
      got = JSON.stringify(fn());
    } catch (e) {
      got = 'threw ' + String(e);
    }
    outcomes.push(name + ' → ' + got);
  };

  const order = [];
  const sets = {};
  Object.defineProperty(sets, 'hidden', { value: () => { order.push('hidden'); return true; }, enumerable: false });
  sets.b = (v) => { order.push('b'); return v === 1; };
  sets['2'] = () => { order.push('2'); return true; };
  Object.defineProperty(sets, 'g', { get() { order.push('get g'); return () => { order.push('g'); return false; }; }, enumerable: true });
  sets.a = 0;
  sets.c = 'x';
  sets[Symbol('s')] = () => { order.push('sym'); return true; };
  run('own enumerable string keys, in order', () => [check(1, sets), order.join(',')]);

  const child = Object.create({ inherited: () => { order.push('inherited'); return false; } });
  child.own = () => true;
  run('inherited keys are no checks', () => [check(1, child), order.includes('inherited')]);
  run('an array', () => check(5, [(v) => v === 5, () => false]));
  run('no sets', () => check(1));
  run('undefined sets', () => check(1, undefined));
  run('null sets', () => check(1, null));
  run('a string', () => check(1, 'xy'));
  run('a number', () => check(1, 5));
  run('an empty object', () => check(1, {}));
  run('truthiness', () => check(1, { 'returns 1': () => 1, 'returns an object': () => ({}), 'returns an empty string': () => '' }));
  const ran = [];
  run('a check that throws', () => check(1, {
    first: () => { ran.push('first'); return true; },
    boom: () => { ran.push('boom'); throw new Error('kaboom'); },
    after: () => { ran.push('after'); return true; },
  }));
  run('what ran before the throw', () => ran.join(','));
  run('a getter that throws', () => check(1, { get bad() { throw new Error('getter threw'); }, fine: () => true }));
  run('the arguments', () => check(7, { 'one argument, this undefined': function (v) { return arguments.length === 1 && this === undefined && v === 7; } }));
  run('a Map', () => check(1, new Map([['k', () => true]])));
  run('null and undefined values', () => check(1, { 'null': null, 'undefined': undefined }));
  run('tags', () => check(1, { tagged: () => true }, { mytag: 'v' }));
  run('a name with ::', () => check(1, { 'a::b': () => true }));
  run('an async function', () => check(1, { 'async fn': async () => true }));
  run('a promise value', () => check(1, { 'a promise': Promise.resolve(false) }));

  for (const o of outcomes) {
    check(true, { [o.replaceAll('::', '(colons)')]: true }); // a check name may not hold '::'
  }
}
