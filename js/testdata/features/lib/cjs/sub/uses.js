// require() paths start from this file's folder.
const fn = require('../fn.js');
const esm = require('../esm.js');
const k6 = require('k6');
module.exports = { six: fn(3), esmValue: esm.value, esmDefault: esm.default(), hasCheck: typeof k6.check === 'function' };
