/* Draws a report's charts from the JSON the page embeds (json_script "report-data"); no data lives in markup.
   Clicking a bar of the ranking opens that branch's or operator's report (the drill-down). */
(function () {
  "use strict";

  var COLORS = {
    navy: "#1f4e79", blue: "#3b7dd8", sky: "#9dbde3", green: "#2e8b57", amber: "#d4902a", red: "#c0392b", gray: "#8a94a6"
  };

  function data() {
    var node = document.getElementById("report-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return null;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new window.Chart(canvas, config);
  }

  function percentAxis() {
    return { beginAtZero: true, max: 100, ticks: { callback: function (v) { return v + "%"; } } };
  }

  function render(d) {
    var s = d.series, l = d.labels;
    draw("chart-customers", {
      type: "bar",
      data: {
        labels: d.days,
        datasets: [
          { type: "line", label: l.customers, data: s.customers, borderColor: COLORS.navy, backgroundColor: COLORS.navy, yAxisID: "y1", pointRadius: 0, tension: 0.2 },
          { label: l.new, data: s.new, backgroundColor: COLORS.green, stack: "flow" },
          { label: l.lostByCustomer, data: s.lostByCustomer.map(function (v) { return -v; }), backgroundColor: COLORS.red, stack: "flow" },
          { label: l.lostByOperator, data: s.lostByOperator.map(function (v) { return -v; }), backgroundColor: COLORS.amber, stack: "flow" }
        ]
      },
      options: {
        interaction: { mode: "index", intersect: false },
        scales: { x: { stacked: true }, y: { stacked: true }, y1: { position: "right", grid: { drawOnChartArea: false } } },
        plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + ": " + Math.abs(c.raw); } } } }
      }
    });
    draw("chart-reach", {
      type: "line",
      data: {
        labels: d.days,
        datasets: [
          { label: l.deliveries, data: s.deliveries, borderColor: COLORS.sky, backgroundColor: COLORS.sky, pointRadius: 0 },
          { label: l.clicks, data: s.clicks, borderColor: COLORS.blue, backgroundColor: COLORS.blue, pointRadius: 0 },
          { label: l.conversions, data: s.conversions, borderColor: COLORS.green, backgroundColor: COLORS.green, pointRadius: 2, yAxisID: "y1" }
        ]
      },
      options: { interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true }, y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } }
    });
    draw("chart-quality", {
      type: "line",
      data: {
        labels: d.days,
        datasets: [
          { label: l.effectiveRatio, data: s.effectiveRatio, borderColor: COLORS.navy, backgroundColor: COLORS.navy, pointRadius: 0, spanGaps: true },
          { label: l.onTime, data: s.onTime, borderColor: COLORS.green, backgroundColor: COLORS.green, pointRadius: 0, spanGaps: true },
          { label: l.reply5min, data: s.reply5min, borderColor: COLORS.amber, backgroundColor: COLORS.amber, pointRadius: 0, spanGaps: true }
        ]
      },
      options: { interaction: { mode: "index", intersect: false }, scales: { y: percentAxis() } }
    });
    draw("chart-churn", {
      type: "doughnut",
      data: {
        labels: [l.lostByCustomer, l.lostByOperator],
        datasets: [{ data: [d.churn.byCustomer, d.churn.byOperator], backgroundColor: [COLORS.red, COLORS.amber] }]
      },
      options: { plugins: { legend: { position: "right" } } }
    });
    var r = d.ranking;
    draw("chart-ranking", {
      type: "bar",
      data: { labels: r.names, datasets: [{ label: r.metric, data: r.values, backgroundColor: COLORS.blue }] },
      options: {
        indexAxis: "y",
        scales: { x: r.percent ? percentAxis() : { beginAtZero: true } },
        plugins: { legend: { display: false } },
        onClick: function (event, elements) {
          if (elements.length) window.location.href = r.links[elements[0].index];
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        }
      }
    });
    var f = d.funnels;
    draw("chart-funnels", {
      type: "bar",
      data: {
        labels: f.names,
        datasets: [
          { label: l.delivered, data: f.delivered, backgroundColor: COLORS.sky },
          { label: l.clicked, data: f.clicked, backgroundColor: COLORS.blue },
          { label: l.converted, data: f.converted, backgroundColor: COLORS.green }
        ]
      },
      options: { indexAxis: "y", scales: { x: { beginAtZero: true } } }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var d = data();
    if (d && window.Chart) {
      window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
      render(d);
    }
  });
})();
