module.exports = function double(x) { return 2 * x; };
module.exports.triple = function (x) { return 3 * x; };
