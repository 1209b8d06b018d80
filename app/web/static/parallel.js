// Parallel coordinates (Apache ECharts): one axis per parameter (log axes for log
// parameters, category axes for choices and booleans) and one for the objective. Brushing
// a range on any axis keeps the lines inside it and tells onBrush which trials those are.
"use strict";

/** The axes for a study's searched parameters, in space order, then the objective. */
function parallelAxes(study, points) {
  const axes = [];
  const seen = new Set();
  for (const stage of study.stages) {
    for (const [name, p] of Object.entries(stage.space)) {
      if (p.type === "fixed" || seen.has(name) || !points.params[name]) continue;
      seen.add(name);
      if (p.type === "choice") {
        axes.push({ name, kind: "category", data: p.values.map(String) });
      } else {
        const log = p.type === "log_uniform" || p.log;
        axes.push({ name, kind: log ? "log" : "value", base: p.type === "int" ? 2 : 10 });
      }
    }
  }
  return axes;
}

/** Trials with an objective and every parameter usable on its axis: their indexes and rows. */
function parallelRows(axes, points) {
  const idx = [];
  const rows = [];
  for (let i = 0; i < points.size; i++) {
    const y = points.objective[i];
    if (y === null) continue;
    const row = [];
    for (const a of axes) {
      const v = points.params[a.name][i];
      if (a.kind === "category") row.push(String(v));
      else if (num(v) === null || (a.kind === "log" && v <= 0)) break;
      else row.push(v);
    }
    if (row.length < axes.length) continue;
    row.push(y);
    idx.push(i);
    rows.push(row);
  }
  return [idx, rows];
}

const PARALLEL_MAX = 8000; // lines drawn; beyond, an even sample (brushing sees all)

function parallelChart(el, study, points, onBrush) {
  const axes = parallelAxes(study, points);
  const [idx, all] = parallelRows(axes, points);
  const step = all.length / PARALLEL_MAX;
  const rows = step > 1
    ? all.filter((_, k) => Math.floor(k / step) !== Math.floor((k - 1) / step)) : all;
  el.dataset.points = String(all.length);
  el.dataset.lines = String(rows.length);
  el.dataset.axes = String(axes.length + 1);
  if (!rows.length || !axes.length) {
    el._echart?.dispose();
    el._echart = null;
    el.replaceChildren(h("div", { class: "empty" }, "no finished trials yet"));
    onBrush(null);
    return;
  }
  const [lo, hi] = extent(rows.map((r) => r[r.length - 1]));
  const key = JSON.stringify(axes);
  if (!el._echart || el._axes !== key) {
    el._echart?.dispose();
    el.replaceChildren();
    el._echart = echarts.init(el, null, { renderer: "canvas" });
    el._axes = key;
    el._echart.on("axisareaselected", () => reportBrush(el, onBrush));
    el._echart.setOption({
      animation: false,
      parallel: { left: 48, right: 64, top: 28, bottom: 24,
                  parallelAxisDefault: { nameLocation: "start", nameGap: 12,
                                         nameTextStyle: { fontSize: 11 },
                                         axisLabel: { fontSize: 10, hideOverlap: true },
                                         realtime: false } },
      parallelAxis: [...axes.map((a, dim) => ({
        dim, name: a.name, type: a.kind, data: a.data, logBase: a.base,
        axisLabel: a.kind === "category" ? {} : { formatter: (v) => fmt(v) },
      })), { dim: axes.length, name: study.metric, type: "value", scale: true,
             axisLabel: { formatter: (v) => fmt(v) } }],
      visualMap: { show: false, dimension: axes.length, min: lo, max: hi,
                   inRange: { color: study.direction === "maximize"
                     ? ["#440154", "#31688e", "#35b779", "#fde725"]
                     : ["#fde725", "#35b779", "#31688e", "#440154"] } },
      series: [{ type: "parallel", data: rows, progressive: 2000, progressiveThreshold: 4000,
                 lineStyle: { width: rows.length > 2000 ? 0.5 : 1, opacity: 0.45 },
                 inactiveOpacity: 0.03, activeOpacity: 0.9 }],
    });
  } else {
    el._echart.setOption({ visualMap: { min: lo, max: hi }, series: [{ data: rows }] });
  }
  el._rows = all;
  el._trialIds = idx.map((i) => points.trial_id[i]);
  el._categories = axes.map((a) => a.data ?? null);
  reportBrush(el, onBrush);
}

/** Tell onBrush the ids of every trial (drawn or not) inside all brushed ranges (a Set),
 *  or null when nothing is brushed. */
function reportBrush(el, onBrush) {
  const model = el._echart.getModel();
  const brushes = [];
  for (let dim = 0; dim <= el._categories.length; dim++) {
    const intervals = model.getComponent("parallelAxis", dim)?.activeIntervals ?? [];
    if (intervals.length) brushes.push([dim, intervals]);
  }
  if (!brushes.length) {
    el.dataset.brushed = "";
    onBrush(null);
    return;
  }
  const inside = (dim, v) => {
    const cats = el._categories[dim];
    const x = cats ? cats.indexOf(v) : v; // category axes brush category positions
    return brushes.find(([d]) => d === dim)[1].some(([lo, hi]) => x >= lo && x <= hi);
  };
  const ids = new Set();
  el._rows.forEach((row, k) => {
    if (brushes.every(([dim]) => inside(dim, row[dim]))) ids.add(el._trialIds[k]);
  });
  el.dataset.brushed = String(ids.size);
  onBrush(ids);
}

window.addEventListener("resize", () => {
  for (const el of document.querySelectorAll(".echart")) el._echart?.resize();
});
