export const x = 1;
null.boom;
