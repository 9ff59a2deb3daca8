// A CommonJS library in the style of jslib's UMD bundles.
var count = 0;
module.exports = {
  next: function () { count += 1; return count; },
  name: 'counter',
};
exports.lost = true; // module.exports was replaced: this is not exported
if (count === 0) return;
module.exports.unreachable = true;
