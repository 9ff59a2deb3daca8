exports.fromA = 'a';
const b = require('./b.js');
exports.bSawA = b.sawA;
