// group() at its edges: what it takes as a callback, async functions
// (refused before they run) against functions that return a promise,
// names with '::', what it returns. Every case's outcome becomes the name
// of a check, so that k6's summary records it.
import { group, check } from 'k6';

export const options = { iterations: 1, vus: 1 };

export default function () {
  const outcomes = [];
  const ran = [];
  const run = (name, fn) => {
    let got;
    try {
      got = JSON.stringify(fn());
    } catch (e) {
      got = 'threw ' + String(e);
    }
    outcomes.push(name + ' → ' + got);
  };

  run('a name with ::', () => group('a::b', () => 1));
  run('a name with :: and no callback', () => group('a::b'));
  run('an async arrow function', () => group('async arrow', async () => { ran.push('async arrow'); }));
  run('an async function', () => group('async fn', async function () { ran.push('async fn'); }));
  run('what ran of the async ones', () => ran.join(','));
  run('a function that returns a promise', () => group('promise', () => Promise.resolve(1)) instanceof Promise);
  run('what it returns', () => group('value', () => ({ answer: 42 })));
  run('no callback', () => group('none'));
  run('a number as callback', () => group('number', 5));
  run('an undefined name', () => group(undefined, () => 'named undefined'));
  run('nested', () => group('outer', () => group('inner', () => 'deep')));
  run('a throwing callback', () => group('throws', () => { throw new Error('inside'); }));

  for (const o of outcomes) {
    check(true, { [o.replaceAll('::', '(colons)')]: true }); // a check name may not hold '::'
  }
}
