// loadlens live dashboard: draws the report's charts from the server's
// event stream and redraws them at each event. It only ever sets
// textContent: every string in the data may come from the system under
// test.
(function () {
  "use strict";
  var charts = window.loadlensCharts;
  var box = document.getElementById("live-charts");
  var byID = {}; // chart id → its plot
  var updates = 0;
  var stateText = {
    running: "Running", stopped: "Finished: writing the report…", done: "Finished"
  };

  // figure returns the chart's figure, made on first use, in the data's order.
  function figure(c, before) {
    var el = document.getElementById("chart-" + c.id);
    if (!el) {
      el = document.createElement("figure");
      el.className = "chart";
      el.id = "chart-" + c.id;
      el.setAttribute("data-chart", c.id);
      var cap = document.createElement("figcaption");
      cap.textContent = c.title;
      el.appendChild(cap);
      box.insertBefore(el, before || null);
    }
    return el;
  }

  function draw(data) {
    var order = data.charts.filter(function (c) { return c.series.length; });
    order.forEach(function (c, i) {
      var next = order[i + 1] ? document.getElementById("chart-" + order[i + 1].id) : null;
      var el = figure(c, next);
      var plot = byID[c.id];
      if (plot && charts.update(plot, data, c)) return;
      if (plot) {
        plot.destroy();
        charts.plots.splice(charts.plots.indexOf(plot), 1);
      }
      plot = charts.draw(data, c, el);
      byID[c.id] = plot;
      charts.plots.push(plot);
    });
  }

  var events = new EventSource("events");
  events.onmessage = function (e) {
    var ev = JSON.parse(e.data);
    draw(ev.charts);
    updates++;
    document.getElementById("state").textContent = stateText[ev.state] || ev.state;
    document.body.setAttribute("data-state", ev.state);
    document.body.setAttribute("data-updates", String(updates));
    document.body.setAttribute("data-points", String(ev.charts.n));
    document.body.setAttribute("data-charts-drawn", String(charts.plots.length));
    if (ev.state === "done") {
      events.close(); // the stream ends here: no reconnection
      document.getElementById("report-link").hidden = false;
    }
  };
})();
