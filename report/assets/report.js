// loadlens report: draws the charts from the JSON in #report-data with
// uPlot; the live dashboard draws the same charts from its event stream.
// It only ever sets textContent: every string in the data may come from
// the system under test.
(function () {
  "use strict";

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

  // bytes uses SI units, as the terminal summary does (loadtest.FormatBytes).
  function bytes(v) {
    var units = ["B", "kB", "MB", "GB", "TB", "PB"], i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (+v.toPrecision(3)) + " " + units[i];
  }

  // axisLabel names the unit of an axis.
  function axisLabel(unit) {
    return { ms: "ms", "%": "%", "1/s": "per second", bytes: "bytes", "bytes/s": "bytes per second" }[unit] || "";
  }

  function fmt(v, unit) {
    if (v == null || !isFinite(v)) return "–";
    switch (unit) {
      case "ms": return num(v) + " ms";
      case "%": return num(v) + " %";
      case "1/s": return num(v) + "/s";
      case "bytes": return bytes(v);
      case "bytes/s": return bytes(v) + "/s";
    }
    return num(v);
  }

  function axisFmt(unit) {
    return function (u, splits) {
      return splits.map(function (v) { return unit === "bytes" || unit === "bytes/s" ? bytes(v) : num(v); });
    };
  }

  // Time ticks fall on whole seconds and round minutes and hours.
  var xIncrs = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

  function axisSize(unit) { return unit === "bytes" || unit === "bytes/s" ? 84 : 64; }

  // rangeWith keeps zero and every threshold line in view.
  function rangeWith(thresholds) {
    return function (u, min, max) {
      (thresholds || []).forEach(function (t) {
        min = min == null ? t.value : Math.min(min, t.value);
        max = max == null ? t.value : Math.max(max, t.value);
      });
      if (min == null || max == null) return [0, 1];
      var lo = Math.min(0, min), hi = max > lo ? max * 1.05 : lo + 1;
      return [lo, hi];
    };
  }

  // thresholdLines draws each threshold as a dashed line at its bound,
  // red when it failed, with its expression.
  function thresholdLines(c) {
    return function (u) {
      if (!c.thresholds) return;
      var ctx = u.ctx, left = u.bbox.left, right = u.bbox.left + u.bbox.width;
      ctx.save();
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 1.5;
      ctx.font = (11 * devicePixelRatio) + "px sans-serif";
      ctx.textAlign = "right";
      c.thresholds.forEach(function (t) {
        var y = Math.round(u.valToPos(t.value, "y", true));
        ctx.strokeStyle = ctx.fillStyle = t.failed ? "#c00000" : "#666666";
        ctx.beginPath();
        ctx.moveTo(left, y);
        ctx.lineTo(right, y);
        ctx.stroke();
        ctx.fillText(t.label, right - 4, y - 4);
      });
      ctx.restore();
    };
  }

  // lastIndex is the last point where any series has a value: the legend
  // shows it while the cursor is away.
  function lastIndex(c) {
    var last = null;
    c.series.forEach(function (s) {
      for (var i = s.values.length - 1; i >= 0 && (last == null || i > last); i--) {
        if (s.values[i] != null) { last = i; break; }
      }
    });
    return last;
  }

  // shade fills each finding's window behind the series.
  function shade(u, windows) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
    ctx.save();
    windows.forEach(function (w) {
      var a = Math.max(left, u.valToPos(w.start, "x", true));
      var b = Math.min(right, u.valToPos(w.end, "x", true));
      if (b <= a) return;
      ctx.fillStyle = shades[w.severity] || shades.info;
      ctx.fillRect(a, top, Math.max(b - a, 2), height);
    });
    ctx.restore();
  }

  function widthOf(el) { return Math.max(320, el.clientWidth - 8); }

  // columns returns uPlot's data: the x values, then each series'.
  function columns(data, c) {
    var xs = new Array(data.n);
    for (var i = 0; i < data.n; i++) xs[i] = data.x0 + i * data.step;
    return [xs].concat(c.series.map(function (s) { return s.values; }));
  }

  // drawChart draws chart c of data into el and returns its plot.
  function drawChart(data, c, el) {
    var series = [{ label: "time", value: function (u, v) { return offset(v); } }];
    var right = false;
    c.series.forEach(function (s) {
      var unit = s.axis2 ? c.unit2 : c.unit;
      right = right || !!s.axis2;
      series.push({
        label: s.label, stroke: s.color, width: 1.25, scale: s.axis2 ? "y2" : "y", spanGaps: false,
        value: function (u, v) { return fmt(v, unit); }
      });
    });
    var axes = [
      { label: "time since start (m:ss)", labelSize: 20, incrs: xIncrs, values: function (u, splits) { return splits.map(offset); } },
      { scale: "y", label: axisLabel(c.unit), labelSize: 20, size: axisSize(c.unit), values: axisFmt(c.unit) }
    ];
    var scales = { x: { time: false }, y: { range: rangeWith(c.thresholds) } };
    if (right) {
      axes.push({ scale: "y2", side: 1, label: axisLabel(c.unit2), labelSize: 20, size: axisSize(c.unit2), grid: { show: false }, values: axisFmt(c.unit2) });
      scales.y2 = { range: rangeWith(null) };
    }
    var plot;
    function showLast(u) {
      var last = lastIndex(u.loadlensChart || c);
      if (u.cursor.idx == null && last != null) u.setLegend({ idx: last });
    }
    try {
      plot = new uPlot({
        width: widthOf(el), height: 220, series: series, axes: axes, scales: scales,
        hooks: {
          drawClear: [function (u) { shade(u, data.windows); }], draw: [thresholdLines(c)],
          ready: [showLast], setCursor: [showLast], setData: [showLast]
        }
      }, columns(data, c), el);
    } catch (e) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "This chart could not be drawn: " + e;
      el.appendChild(p);
      throw e;
    }
    plot.loadlensChart = c;
    el.setAttribute("data-thresholds", String((c.thresholds || []).length));
    return plot;
  }

  // updateChart gives a plot the chart's new points, or returns false when
  // its lines changed and it must be drawn anew.
  function updateChart(plot, data, c) {
    var old = plot.loadlensChart;
    if (old.series.length !== c.series.length || JSON.stringify(old.thresholds || []) !== JSON.stringify(c.thresholds || [])) {
      return false;
    }
    for (var i = 0; i < c.series.length; i++) {
      if (old.series[i].label !== c.series[i].label) return false;
    }
    plot.loadlensChart = c;
    plot.setData(columns(data, c));
    return true;
  }

  var plots = [];
  var pending = 0;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = window.requestAnimationFrame(function () {
      pending = 0;
      plots.forEach(function (p) { p.setSize({ width: widthOf(p.root.parentNode), height: 220 }); });
    });
  });

  window.loadlensCharts = { draw: drawChart, update: updateChart, plots: plots };

  var blob = document.getElementById("report-data");
  if (!blob) return; // the live dashboard draws from its events
  var data = JSON.parse(blob.textContent);
  data.charts.forEach(function (c) {
    if (!c.series.length) return;
    var el = document.getElementById("chart-" + c.id);
    if (el) plots.push(drawChart(data, c, el));
  });
  if (window.performance && performance.mark) performance.mark("loadlens-charts-drawn");
  document.body.setAttribute("data-charts-drawn", String(plots.length));
})();
