const a = require('./a.js'); // a cycle: a's exports so far
exports.sawA = a.fromA;
