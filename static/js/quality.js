/* Quality dashboard and gold page: Chart.js plots from the JSON that the page embeds with
 * Django's json_script (no inline script: the CSP forbids it). Each chart is drawn only when its
 * canvas is on the page, so the same file serves both pages. */
(function () {
  "use strict";

  const PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0e7490", "#a16207", "#be185d"];

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart === "undefined") return null;
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    return new window.Chart(canvas, config);
  }

  const share = { scales: { y: { min: 0, max: 1 } } };

  /* [[week, correct, graded], ...] -> one line's points, keyed by week. */
  function accuracy(rows) {
    const points = {};
    rows.forEach(function (row) { points[row[0]] = row[2] ? row[1] / row[2] : null; });
    return points;
  }

  function goldChart(gold) {
    if (!gold || !gold.overall || !gold.overall.length) return;
    const series = [["All annotators", gold.overall]];
    Object.keys(gold.per_annotator || {}).forEach(function (name) { series.push([name, gold.per_annotator[name]]); });
    const weeks = Array.from(new Set(series.flatMap(function (s) { return s[1].map(function (r) { return r[0]; }); }))).sort();
    draw("chart-gold", {
      type: "line",
      data: {
        labels: weeks,
        datasets: series.map(function (s, n) {
          const points = accuracy(s[1]);
          return {
            label: s[0],
            data: weeks.map(function (w) { return w in points ? points[w] : null; }),
            borderColor: PALETTE[n % PALETTE.length],
            borderWidth: n === 0 ? 3 : 1.5,
            spanGaps: true,
          };
        }),
      },
      options: share,
    });
  }

  function biasChart(perAnnotator) {
    const names = Object.keys(perAnnotator || {});
    if (!names.length) return;
    function rate(name, key) {
      const value = perAnnotator[name][key];
      return value ? value.rate : null;
    }
    draw("chart-bias", {
      type: "bar",
      data: {
        labels: names,
        datasets: [
          { label: "First shown wins", data: names.map(function (n) { return rate(n, "position"); }), backgroundColor: PALETTE[0] },
          { label: "Longer wins", data: names.map(function (n) { return rate(n, "longer_wins"); }), backgroundColor: PALETTE[1] },
        ],
      },
      options: share,
    });
  }

  function dashboard(data) {
    draw("chart-per-day", {
      type: "bar",
      data: {
        labels: data.judgments_per_day.map(function (r) { return r.day; }),
        datasets: [{ label: "Judgments", data: data.judgments_per_day.map(function (r) { return r.n; }), backgroundColor: PALETTE[0] }],
      },
    });
    draw("chart-throughput", {
      type: "bar",
      data: {
        labels: data.throughput.map(function (r) { return r.annotator; }),
        datasets: [{ label: "Judgments", data: data.throughput.map(function (r) { return r.n; }), backgroundColor: PALETTE[2] }],
      },
      options: { indexAxis: "y" },
    });
    draw("chart-agreement", {
      type: "line",
      data: {
        labels: data.agreement_per_week.map(function (r) { return r.week; }),
        datasets: [{ label: "Mean item agreement", data: data.agreement_per_week.map(function (r) { return r.mean; }), borderColor: PALETTE[3] }],
      },
      options: share,
    });
    goldChart(data.gold);
    biasChart(data.bias && data.bias.per_annotator);
  }

  function start() {
    const data = readJson("quality-data");
    if (data) dashboard(data);
    const gold = readJson("gold-data");
    if (gold) goldChart(gold);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
