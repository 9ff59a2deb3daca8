export const VERSION = '1.0';
export default function double(x) { return 2 * x; }
export function triple(x) { return 3 * x; }
