export const value = 'esm';
export default function () { return 'esm default'; }
