/* Daily cost stacked by model, drawn as SVG from the JSON the finance report embeds
 * (json_script "finance-chart-data"). No library: one chart does not justify one, and
 * nothing is fetched at run time.
 *
 * Data: {days: ["YYYY-MM-DD", ...], series: [{model, costs: ["0.0123", ...], links: [url or "", ...]}]}
 * (only models that cost something are series; "" where no exact drill-down exists).
 * Costs arrive as exact decimal strings; they are parsed to numbers only to size bars,
 * and shown as sent in tooltips and data-cost attributes.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#417690", "#e08a3c", "#5b9a5b", "#b5525c", "#8a6bb1", "#c9a227", "#4fa3a5", "#d17bb5", "#7a7a7a", "#2f4b7c"];
  var HEIGHT = 320;
  var MARGIN = { top: 12, right: 12, bottom: 46, left: 78 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG_NS, name);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  // A round axis maximum (1, 2, 2.5 or 5 × 10^n) at or above the tallest stack.
  function niceMax(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  // Axis labels: as many decimals as the step needs ($1, $2.5, $0.05, $0.0002).
  function money(v, step) {
    var decimals = 0;
    while (decimals < 10 && Math.abs(step * Math.pow(10, decimals) - Math.round(step * Math.pow(10, decimals))) > 1e-9) {
      decimals++;
    }
    return "$" + v.toFixed(decimals);
  }

  // As the report's tables write money: "$1,234.5679"; "<$0.0001" for a nonzero amount below that.
  function shown(v) {
    if (v > 0 && v < 0.00005) return "<$0.0001";
    return "$" + v.toLocaleString("en-US", { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  }

  function draw(container, legend, data) {
    var days = data.days || [];
    var series = data.series || [];
    container.textContent = "";
    legend.textContent = "";
    var totals = days.map(function (_, i) {
      return series.reduce(function (sum, s) { return sum + (parseFloat(s.costs[i]) || 0); }, 0);
    });
    var top = Math.max.apply(null, [0].concat(totals));
    if (!days.length || top <= 0) {
      var empty = document.createElement("p");
      empty.className = "finance-chart-empty";
      empty.textContent = "No cost in this range.";
      container.appendChild(empty);
      return;
    }
    var width = Math.max(320, container.clientWidth || 900);
    var plotW = width - MARGIN.left - MARGIN.right;
    var plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
    var max = niceMax(top);
    var svg = el("svg", {
      width: width, height: HEIGHT, viewBox: "0 0 " + width + " " + HEIGHT,
      role: "img", "aria-label": "Daily cost stacked by model", "class": "finance-chart-svg"
    }, container);

    // Horizontal grid and y labels: five steps of the rounded maximum.
    var ticks = 5, step = max / ticks;
    for (var t = 0; t <= ticks; t++) {
      var y = MARGIN.top + plotH - (t / ticks) * plotH;
      el("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y, y2: y, "class": "grid" }, svg);
      el("text", { x: MARGIN.left - 6, y: y + 4, "text-anchor": "end", "class": "axis" }, svg).textContent = money(t * step, step);
    }

    var band = plotW / days.length;
    var barW = Math.max(1, Math.min(48, band * 0.72));
    var labelEvery = Math.ceil(days.length / Math.max(1, Math.floor(plotW / 64)));
    var drawn = {};  // series index -> true once one of its segments is drawn
    days.forEach(function (day, i) {
      var x = MARGIN.left + i * band + (band - barW) / 2;
      var base = MARGIN.top + plotH;
      series.forEach(function (s, k) {
        var cost = parseFloat(s.costs[i]) || 0;
        if (cost <= 0) return;
        // At least 1 px, so every (day, model) that cost something can be seen and hovered.
        var h = Math.max(1, (cost / max) * plotH);
        base -= h;
        var link = s.links[i] ? el("a", { href: s.links[i] }, svg) : svg;
        var rect = el("rect", {
          x: x, y: base, width: barW, height: h, fill: PALETTE[k % PALETTE.length], "class": "bar",
          "data-day": day, "data-model": s.model, "data-cost": s.costs[i]
        }, link);
        el("title", {}, rect).textContent = day + " · " + s.model + " · " + shown(cost) + " (exact $" + s.costs[i] + ")";
        drawn[k] = true;
      });
      if (i % labelEvery === 0) {
        el("text", { x: x + barW / 2, y: MARGIN.top + plotH + 16, "text-anchor": "middle", "class": "axis" }, svg)
          .textContent = day.slice(5);
      }
    });
    el("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: MARGIN.top + plotH, y2: MARGIN.top + plotH, "class": "baseline" }, svg);
    el("text", { x: MARGIN.left + plotW / 2, y: HEIGHT - 6, "text-anchor": "middle", "class": "axis" }, svg)
      .textContent = days[0] + " – " + days[days.length - 1];

    // The legend names only what was drawn (a series whose every day cost 0 has no colour on the chart).
    series.forEach(function (s, k) {
      if (!drawn[k]) return;
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[k % PALETTE.length];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.model));
      legend.appendChild(item);
    });
    container.setAttribute("data-drawn", "true");
  }

  function init() {
    var container = document.getElementById("finance-chart");
    var source = document.getElementById("finance-chart-data");
    if (!container || !source) return;
    var data = JSON.parse(source.textContent);
    var legend = document.getElementById("finance-legend");
    draw(container, legend, data);
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () { draw(container, legend, data); }, 150);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
