// loadlens report: draws the charts from the JSON in #report-data with
// uPlot. It only ever sets textContent: every string in the data may come
// from the system under test.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var xs = new Array(data.n);
  for (var i = 0; i < data.n; i++) xs[i] = data.x0 + i * data.step;

  var shades = {
    critical: "rgba(200,0,0,0.20)", high: "rgba(230,90,0,0.17)", medium: "rgba(235,175,0,0.17)",
    low: "rgba(90,140,220,0.14)", info: "rgba(140,140,140,0.12)"
  };

  function offset(s) {
    if (s == null) return "–";
    var neg = s < 0; s = Math.round(Math.abs(s));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    var out = (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (sec < 10 ? "0" : "") + sec;
    return neg ? "-" + out : out;
  }

  function num(v) {
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }

  function bytes(v) {
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (+v.toPrecision(3)) + " " + units[i];
  }

  function fmt(v, unit) {
    if (v == null || !isFinite(v)) return "–";
    switch (unit) {
      case "ms": return num(v) + " ms";
      case "%": return num(v) + " %";
      case "1/s": return num(v) + "/s";
      case "bytes": return bytes(v);
    }
    return num(v);
  }

  function axisFmt(unit) {
    return function (u, splits) {
      return splits.map(function (v) { return unit === "bytes" ? bytes(v) : num(v); });
    };
  }

  // Time ticks fall on whole seconds and round minutes and hours.
  var xIncrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function axisSize(unit) { return unit === "bytes" ? 84 : 64; }

  function range(u, min, max) {
    if (min == null || max == null) return [0, 1];
    var lo = Math.min(0, min), hi = max > lo ? max * 1.05 : lo + 1;
    return [lo, hi];
  }

  // shade fills each finding's window behind the series.
  function shade(u) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
    ctx.save();
    data.windows.forEach(function (w) {
      var a = Math.max(left, u.valToPos(w.start, "x", true));
      var b = Math.min(right, u.valToPos(w.end, "x", true));
      if (b <= a) return;
      ctx.fillStyle = shades[w.severity] || shades.info;
      ctx.fillRect(a, top, Math.max(b - a, 2), height);
    });
    ctx.restore();
  }

  function widthOf(el) { return Math.max(320, el.clientWidth - 8); }

  var plots = [];
  data.charts.forEach(function (c) {
    if (!c.series.length) return;
    var el = document.getElementById("chart-" + c.id);
    if (!el) return;
    var series = [{ label: "time", value: function (u, v) { return offset(v); } }];
    var cols = [xs], right = false;
    c.series.forEach(function (s) {
      var unit = s.axis2 ? c.unit2 : c.unit;
      right = right || !!s.axis2;
      series.push({
        label: s.label, stroke: s.color, width: 1.25, scale: s.axis2 ? "y2" : "y", spanGaps: false,
        value: function (u, v) { return fmt(v, unit); }
      });
      cols.push(s.values);
    });
    var axes = [
      { incrs: xIncrs, values: function (u, splits) { return splits.map(offset); } },
      { scale: "y", size: axisSize(c.unit), values: axisFmt(c.unit) }
    ];
    var scales = { x: { time: false }, y: { range: range } };
    if (right) {
      axes.push({ scale: "y2", side: 1, size: axisSize(c.unit2), grid: { show: false }, values: axisFmt(c.unit2) });
      scales.y2 = { range: range };
    }
    try {
      plots.push(new uPlot({
        width: widthOf(el), height: 220, series: series, axes: axes, scales: scales,
        hooks: { drawClear: [shade] }
      }, cols, el));
    } catch (e) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "This chart could not be drawn: " + e;
      el.appendChild(p);
      throw e;
    }
  });

  var pending = 0;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = window.requestAnimationFrame(function () {
      pending = 0;
      plots.forEach(function (p) { p.setSize({ width: widthOf(p.root.parentNode), height: 220 }); });
    });
  });
  if (window.performance && performance.mark) performance.mark("loadlens-charts-drawn");
  document.body.setAttribute("data-charts-drawn", String(plots.length));
})();
