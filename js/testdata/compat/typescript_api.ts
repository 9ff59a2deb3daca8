// A TypeScript test, types stripped on load.
import http from 'k6/http';
import { check } from 'k6';

interface Item { id: number; name: string }

export const options = { vus: 2, iterations: 4, thresholds: { checks: ['rate==1'] } };

export default function (): void {
  const res = http.get(`${__ENV.BASE}/api/items`);
  const items: Item[] = res.json('items') as Item[];
  check(items, { 'typed items': (xs: Item[]) => xs.every((x: Item) => typeof x.id === 'number') });
}
