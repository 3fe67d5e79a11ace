/* Reward model vs humans: agreement per snapshot, one line per reward checkpoint.
 * Data comes from the JSON the page embeds with Django's json_script (the CSP forbids inline script). */
(function () {
  "use strict";

  const COLOURS = ["#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#b91c1c", "#0f766e"];

  function start() {
    const node = document.getElementById("agreement-data");
    const canvas = document.getElementById("chart-agreement");
    if (!node || !canvas || typeof window.Chart === "undefined") return;
    const rows = JSON.parse(node.textContent);
    if (!rows.length) return;
    const snapshots = [];
    rows.forEach(function (r) { if (snapshots.indexOf(r.snapshot) < 0) snapshots.push(r.snapshot); });
    const models = [];
    rows.forEach(function (r) { if (models.indexOf(r.checkpoint) < 0) models.push(r.checkpoint); });
    const datasets = models.map(function (model, index) {
      return {
        label: model,
        data: snapshots.map(function (snapshot) {
          const hit = rows.find(function (r) { return r.snapshot === snapshot && r.checkpoint === model; });
          return hit ? hit.accuracy : null;
        }),
        borderColor: COLOURS[index % COLOURS.length],
        backgroundColor: COLOURS[index % COLOURS.length],
        spanGaps: true,
      };
    });
    new window.Chart(canvas, {
      type: "line",
      data: { labels: snapshots, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { min: 0, max: 1, title: { display: true, text: "Agreement with the humans" } } },
      },
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
