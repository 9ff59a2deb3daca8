// A TypeScript entry script: k6 strips the types on load.
import { check } from 'k6';
import { double } from './lib/double.ts';

interface User {
  name: string;
  age?: number;
}
type Id = string | number;
enum Level { Low = 1, High = 2 }

export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };

function greet(u: User, id: Id): string {
  return `${u.name}#${id}`;
}

export default function (): void {
  const u: User = { name: 'ann' };
  check(greet(u, 7), { 'types are stripped': (s: string) => s === 'ann#7' });
  check(double(2), { 'a TypeScript import': (n: number) => n === 4 });
  check(Level.High, { 'enums compile': (l: Level) => l === 2 });
}
