/* Customer portal: daily usage charts, and figures refreshed by polling usage.json.
   The server formats every figure in the customer's language (`texts`, by element id),
   so a refreshed figure reads exactly as the first render did. */
(function () {
  "use strict";
  var root = document.getElementById("portal");
  if (!root) { return; }
  var charts = {};

  var texts = {};
  var labels = {
    thisPeriod: root.dataset.labelThisPeriod || "This period",
    previousPeriod: root.dataset.labelPreviousPeriod || "Previous period",
    dayOfPeriod: root.dataset.labelDayOfPeriod || "day of period"
  };
  function setText(el, id) {
    if (texts[id] !== undefined && el.textContent !== texts[id]) { el.textContent = texts[id]; }
  }
  function setMoney(id, cents) {
    var el = document.getElementById(id);
    if (!el || cents === undefined) { return; }
    el.dataset.cents = String(cents);
    setText(el, id);
  }
  function setUnits(id, value) {
    var el = document.getElementById(id);
    if (!el || value === undefined) { return; }
    el.dataset.units = String(value);
    setText(el, id);
  }

  function drawCharts(subscriptions) {
    if (typeof Chart === "undefined") { return; }
    subscriptions.forEach(function (s, i) {
      s.daily.forEach(function (d, n) {
        var id = "sub-" + i + "-daily-" + n;
        var labels = d.days.map(function (day, k) { return String(k + 1); });
        var current = d.current.map(Number);
        // null: the subscription had no previous period, so no comparison line.
        var previous = d.previous ? d.previous.map(Number) : null;
        if (charts[id]) {
          charts[id].data.datasets[0].data = current;
          if (previous && charts[id].data.datasets[1]) { charts[id].data.datasets[1].data = previous; }
          charts[id].update("none");
          return;
        }
        var canvas = document.getElementById(id);
        if (!canvas) { return; }
        charts[id] = new Chart(canvas, {
          type: "bar",
          data: {
            labels: labels,
            datasets: [
              { label: labels.thisPeriod, data: current, backgroundColor: "rgba(59,91,219,0.75)" }
            ].concat(previous ? [
              { label: labels.previousPeriod, data: previous, type: "line", borderColor: "rgba(134,142,150,0.9)", backgroundColor: "rgba(134,142,150,0.2)", pointRadius: 0, tension: 0 }
            ] : [])
          },
          options: {
            animation: false, responsive: true, maintainAspectRatio: false,
            plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { title: function (items) { return d.days[items[0].dataIndex] || ("day " + items[0].label); } } } },
            scales: { x: { title: { display: true, text: labels.dayOfPeriod } }, y: { beginAtZero: true } }
          }
        });
      });
    });
  }

  function apply(subscriptions) {
    subscriptions.forEach(function (s, i) {
      var u = s.usage;
      texts = s.texts || {};
      setMoney("sub-" + i + "-amount", u.amount_cents);
      setMoney("sub-" + i + "-total", u.total_amount_cents);
      setMoney("sub-" + i + "-projected", u.projected_amount_cents);
      setMoney("sub-" + i + "-projected-bill", s.plan_amount_cents + u.projected_amount_cents);
      u.charges_usage.forEach(function (c, j) {
        var p = "sub-" + i + "-charge-" + j;
        setUnits(p + "-units", c.units);
        setMoney(p + "-amount", c.amount_cents);
        setUnits(p + "-projected-units", c.projected_units);
        setMoney(p + "-projected-amount", c.projected_amount_cents);
        (c.filters || []).forEach(function (f, k) {
          var q = p + "-filter-" + k;
          setUnits(q + "-units", f.units);
          setMoney(q + "-amount", f.amount_cents);
          setUnits(q + "-projected-units", f.projected_units);
          setMoney(q + "-projected-amount", f.projected_amount_cents);
        });
      });
    });
    drawCharts(subscriptions);
  }

  var initial = JSON.parse(document.getElementById("portal-data").textContent || "[]");
  drawCharts(initial);

  var url = root.dataset.usageUrl;
  var every = Math.max(Number(root.dataset.pollSeconds || 3), 1) * 1000;
  var live = document.getElementById("live");
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (body) {
        apply(body.subscriptions || []);
        document.getElementById("updated-at").textContent = new Date().toISOString().substring(11, 19);
        live.classList.remove("stale");
        document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
      })
      .catch(function () { live.classList.add("stale"); })
      .finally(function () { setTimeout(poll, every); });
  }
  setTimeout(poll, every);
})();
