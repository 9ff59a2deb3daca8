// k6/experimental/fs and k6/experimental/csv: files opened in the init
// context with top-level await.
import { open, SeekMode } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import { check } from 'k6';

const text = await open('./lib/data.txt');
const rows = await csv.parse(await open('./lib/users.csv'), { skipFirstLine: true });
const users = await csv.parse(await open('./lib/users.csv'), { asObjects: true });
const parser = new csv.Parser(await open('./lib/users.csv'), { fromLine: 1, toLine: 2 });
let missing;
try {
  await open('./lib/missing.txt');
} catch (e) {
  missing = e.name;
}

export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };

export default async function () {
  const st = await text.stat();
  const buf = new Uint8Array(4);
  const n = await text.read(buf);
  const pos = await text.seek(1, SeekMode.Current);
  const rest = new Uint8Array(100);
  const m = await text.read(rest);
  const eof = await text.read(rest);
  const parsed = [];
  for (let r = await parser.next(); !r.done; r = await parser.next()) {
    parsed.push(r.value.join(':'));
  }
  check(null, {
    'stat': () => st.size === 18 && st.name === 'data.txt',
    'read and seek': () => n === 4 && pos === 5 && m === 13 && eof === null,
    'csv.parse': () => rows.length === 3 && rows[2][0] === 'c, d' && rows[0].join() === 'ann,31',
    'csv.parse asObjects': () => users.length === 3 && users[1].name === 'bob' && users[1].age === '42',
    'csv.Parser lines': () => parsed.join() === 'ann:31,bob:42',
    'a missing file': () => missing === 'NotFoundError',
  });
}
