// A test stand-in for jslib's k6-summary, written for loadlens's tests (not
// the published file): CommonJS, as the published file. textSummary lists
// thresholds, checks and metrics from handleSummary's data; jUnit writes
// one test case per threshold. The tests' module server answers
// https://jslib.k6.io/k6-summary/<version>/index.js with it.

function metricLine(indent, name, metric) {
  const values = Object.keys(metric.values)
    .sort()
    .map((k) => k + '=' + metric.values[k])
    .join(' ');
  return indent + name + ': ' + values;
}

function textSummary(data, options) {
  const indent = (options && options.indent) || ' ';
  const lines = [];
  const names = Object.keys(data.metrics).sort();
  const thresholds = names.filter((n) => data.metrics[n].thresholds);
  if (thresholds.length > 0) {
    lines.push(indent + '█ THRESHOLDS');
    for (const name of thresholds) {
      lines.push(indent + '  ' + name);
      const ths = data.metrics[name].thresholds;
      for (const src of Object.keys(ths)) {
        lines.push(indent + '  ' + (ths[src].ok ? '✓' : '✗') + " '" + src + "'");
      }
    }
  }
  lines.push(indent + '█ TOTAL RESULTS');
  for (const c of data.root_group.checks) {
    lines.push(indent + '  ' + (c.fails === 0 ? '✓' : '✗') + ' ' + c.name);
  }
  for (const name of names) {
    lines.push(metricLine(indent + '  ', name, data.metrics[name]));
  }
  return lines.join('\n') + '\n';
}

function escapeXML(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function jUnit(data, options) {
  const cases = [];
  let failures = 0;
  for (const name of Object.keys(data.metrics)) {
    const ths = data.metrics[name].thresholds || {};
    for (const src of Object.keys(ths)) {
      const tc = escapeXML(name + ' - ' + src);
      if (ths[src].ok) {
        cases.push('<testcase name="' + tc + '" />');
      } else {
        failures++;
        cases.push('<testcase name="' + tc + '"><failure message="failed" /></testcase>');
      }
    }
  }
  const suite = escapeXML((options && options.name) || 'k6 thresholds');
  return '<?xml version="1.0"?>\n<testsuites tests="' + cases.length + '" failures="' + failures + '">\n' +
    '<testsuite name="' + suite + '" tests="' + cases.length + '" failures="' + failures + '">\n' +
    cases.join('\n') + '\n</testsuite>\n</testsuites>\n';
}

exports.textSummary = textSummary;
exports.jUnit = jUnit;
