/* Operator dashboard: analytics charts drawn from the JSON embedded in the page. */
(function () {
  "use strict";
  var holder = document.getElementById("chart-data");
  if (!holder || typeof Chart === "undefined") { return; }
  var data = JSON.parse(holder.textContent || "{}");
  var palette = ["#3b5bdb", "#2b8a3e", "#e8590c", "#ae3ec9", "#1098ad", "#f08c00", "#c92a2a", "#5c940d"];
  var common = { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } };
  function money(v) { return Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 }) + " " + data.currency; }
  function make(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { window.meterlyCharts = window.meterlyCharts || {}; window.meterlyCharts[id] = new Chart(canvas, config); }
  }
  var moneyAxis = { y: { beginAtZero: true, ticks: { callback: function (v) { return money(v); } } } };
  make("chart-mrr", { type: "line", data: { labels: data.months, datasets: [{ label: "MRR", data: data.mrr, borderColor: palette[0], backgroundColor: "rgba(59,91,219,0.15)", fill: true, tension: 0.25 }] }, options: Object.assign({}, common, { scales: moneyAxis }) });
  make("chart-gross", { type: "bar", data: { labels: data.months, datasets: [{ label: "Gross revenue", data: data.gross_revenue, backgroundColor: palette[1] }] }, options: Object.assign({}, common, { scales: moneyAxis }) });
  make("chart-usage", { type: "bar", data: { labels: data.months, datasets: data.invoiced_usage.map(function (s, i) { return { label: s.code, data: s.values, backgroundColor: palette[i % palette.length] }; }) }, options: Object.assign({}, common, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { callback: function (v) { return money(v); } } } } }) });
  make("chart-trends", { type: "line", data: { labels: data.months, datasets: data.usage_trends.map(function (s, i) { return { label: s.code, data: s.values, borderColor: palette[i % palette.length], tension: 0.25 }; }) }, options: Object.assign({}, common, { scales: { y: { beginAtZero: true } } }) });
  document.body.dataset.chartsReady = "1";
})();
