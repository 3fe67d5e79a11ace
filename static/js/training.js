// Run page: loss and metric curves drawn with Chart.js (static/vendor/chart.umd.min.js), fed by the
// run's curves endpoint. No inline script (the CSP forbids it): the endpoint's URL comes from the
// #run-charts element's data attributes. While the run is active the page asks every 2 s for the
// points after the last step it has, and stops once the endpoint reports the run finished.
(() => {
  "use strict";
  const POLL_MS = 2000;
  // Bookkeeping values that are not worth a curve of their own.
  const NOT_METRICS = new Set([
    "loss", "learning_rate", "epoch", "samples_per_second", "runtime", "steps_per_second", "num_tokens",
  ]);
  const COLORS = { train: "#0b5cad", eval: "#b42318" };

  const store = { train: { step: [] }, eval: { step: [] } };
  let lastStep = 0;
  let charts = null;
  let picked = false; // once the user chooses a metric, new options never change the choice

  // Append the columns of one response ({step: [...], loss: [...], ...}) to the stored ones.
  function merge(into, columns) {
    const before = into.step.length;
    const added = (columns.step || []).length;
    for (const name of Object.keys(columns)) {
      if (!(name in into)) into[name] = new Array(before).fill(null);
    }
    for (const name of Object.keys(into)) {
      const column = columns[name];
      for (let i = 0; i < added; i += 1) into[name].push(column ? column[i] : null);
    }
  }

  function points(split, name) {
    const columns = store[split];
    if (!columns[name]) return [];
    return columns.step
      .map((step, i) => ({ x: step, y: columns[name][i] }))
      .filter((point) => point.y !== null && point.y !== undefined);
  }

  function dataset(label, split, name) {
    return {
      label,
      data: points(split, name),
      borderColor: COLORS[split],
      backgroundColor: COLORS[split],
      pointRadius: split === "eval" ? 3 : 0,
      borderWidth: 2,
      spanGaps: true,
    };
  }

  function chart(canvas) {
    return new window.Chart(canvas, {
      type: "line",
      data: { datasets: [] },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "nearest", intersect: false },
        scales: { x: { type: "linear", title: { display: true, text: "step" } } },
      },
    });
  }

  function metricNames() {
    const names = [];
    for (const split of ["train", "eval"]) {
      for (const name of Object.keys(store[split])) {
        if (name !== "step" && !NOT_METRICS.has(name) && points(split, name).length) names.push(`${split}:${name}`);
      }
    }
    return names;
  }

  function syncPicker(picker) {
    const names = metricNames();
    const known = new Set(Array.from(picker.options, (option) => option.value));
    for (const value of names) {
      if (known.has(value)) continue;
      const [split, name] = value.split(/:(.*)/s);
      picker.add(new Option(`${split === "eval" ? "held-out" : "training"} · ${name}`, value));
    }
    if (!picked && names.length) {
      // Held-out accuracy first: the number the promotion gate compares.
      const accuracy = names.find((v) => v.startsWith("eval:") && v.includes("accurac"))
        || names.find((v) => v.includes("accurac"));
      picker.value = accuracy || names[0];
    }
  }

  function draw(picker) {
    charts.loss.data.datasets = [dataset("training loss", "train", "loss"), dataset("held-out loss", "eval", "loss")];
    charts.loss.update();
    syncPicker(picker);
    const datasets = [];
    if (picker.value) {
      const [split, name] = picker.value.split(/:(.*)/s);
      datasets.push(dataset(`${split === "eval" ? "held-out" : "training"} ${name}`, split, name));
    }
    charts.metric.data.datasets = datasets;
    charts.metric.update();
    const empty = document.getElementById("charts-empty");
    if (empty) empty.hidden = store.train.step.length + store.eval.step.length > 0;
  }

  async function refresh(root, picker) {
    const url = new URL(root.dataset.curvesUrl, window.location.href);
    url.searchParams.set("since", String(lastStep));
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error(`curves: HTTP ${response.status}`);
    const body = await response.json();
    merge(store.train, body.train);
    merge(store.eval, body.eval);
    lastStep = Math.max(lastStep, body.last_step || 0);
    for (const each of [charts.loss, charts.metric]) {
      if (body.total) each.options.scales.x.max = body.total; // the axis shows how far the run has to go
    }
    draw(picker);
    return body.finished;
  }

  function start() {
    const root = document.getElementById("run-charts");
    const picker = document.getElementById("metric-pick");
    if (!root || !picker || typeof window.Chart === "undefined") return;
    charts = { loss: chart(document.getElementById("loss-chart")), metric: chart(document.getElementById("metric-chart")) };
    picker.addEventListener("change", () => {
      picked = true;
      draw(picker);
    });
    const poll = async () => {
      let finished = true;
      try {
        finished = await refresh(root, picker);
      } catch (error) {
        finished = false; // a dropped request: try again at the next tick
        console.warn(error);
      }
      if (!finished) window.setTimeout(poll, POLL_MS);
    };
    poll();
  }

  // The log tail is re-rendered by htmx every few seconds: keep it scrolled to its newest line.
  function scrollLog() {
    const pre = document.querySelector("#run-log pre");
    if (pre) pre.scrollTop = pre.scrollHeight;
  }

  document.addEventListener("DOMContentLoaded", () => {
    start();
    scrollLog();
    document.body.addEventListener("htmx:afterSwap", scrollLog);
  });
})();
