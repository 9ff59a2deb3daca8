// A CommonJS entry script: k6 reads its options and functions from exports.
const { check } = require('k6');
const lib = require('./lib/cjs/fn.js');

exports.options = { iterations: 3, thresholds: { checks: ['rate==1'] } };

exports.default = function () {
  check(lib(4), { 'exports.default runs': (v) => v === 8 });
  check(this, { 'strict mode, as k6': (v) => v === undefined });
};
