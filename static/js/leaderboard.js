/* Leaderboard plot: each model's 95% interval as a floating horizontal bar and its rating as a point.
 * Data comes from the JSON the page embeds with Django's json_script (the CSP forbids inline script). */
(function () {
  "use strict";

  function start() {
    const node = document.getElementById("leaderboard-data");
    const canvas = document.getElementById("chart-leaderboard");
    if (!node || !canvas || typeof window.Chart === "undefined") return;
    const rows = JSON.parse(node.textContent);
    if (!rows.length) return;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.model; }),
        datasets: [
          {
            type: "bar",
            label: "95% interval",
            data: rows.map(function (r) { return [r.ci_low, r.ci_high]; }),
            backgroundColor: "rgba(11, 92, 173, 0.25)",
            borderColor: "#0b5cad",
            borderWidth: 1,
            barPercentage: 0.5,
          },
          {
            type: "line",
            label: "Rating",
            indexAxis: "y",
            data: rows.map(function (r) { return r.rating; }),
            showLine: false,
            pointRadius: 5,
            pointBackgroundColor: "#c2410c",
            borderColor: "#c2410c",
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { title: { display: true, text: "Rating (Elo scale)" } } },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (ctx) {
                const r = rows[ctx.dataIndex];
                return r.model + ": " + r.rating + " [" + r.ci_low + ", " + r.ci_high + "], " + r.battles + " battles";
              },
            },
          },
        },
      },
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
