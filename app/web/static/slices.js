// Slices of a choice (or boolean) parameter with Apache ECharts: per value, a box plot of
// the completed trials' objective and every finished trial as a jittered point.
"use strict";

const SLICE_STATES = [
  { state: "aborted: diverged", color: "rgba(220, 38, 38, 0.6)" },
  { state: "aborted: stalled at chance", color: "rgba(109, 40, 217, 0.45)" },
  { state: "pruned", color: "rgba(217, 119, 6, 0.55)" },
  { state: "completed", color: "rgba(37, 99, 235, 0.6)" }, // last: drawn on top
];

const STRIP_MAX = 6000;

/** Which of SLICE_STATES trial i belongs to, or -1. */
function sliceGroup(points, i) {
  const state = points.state[i];
  if (state === "aborted") return points.stalled.has(points.trial_id[i]) ? 1 : 0;
  return state === "pruned" ? 2 : state === "completed" ? 3 : -1;
}

/** [low whisker, Q1, median, Q3, high whisker] of sorted values (whiskers: 1.5 IQR). */
function boxStats(sorted) {
  const q = (p) => {
    const at = (sorted.length - 1) * p;
    const [i, f] = [Math.floor(at), at - Math.floor(at)];
    return sorted[i] + (i + 1 < sorted.length ? f * (sorted[i + 1] - sorted[i]) : 0);
  };
  const [q1, med, q3] = [q(0.25), q(0.5), q(0.75)];
  const reach = 1.5 * (q3 - q1);
  const low = sorted.find((v) => v >= q1 - reach);
  const high = [...sorted].reverse().find((v) => v <= q3 + reach);
  return [low, q1, med, q3, high];
}

function sliceChart(el, name, values, study, points, describe, href) {
  const cats = values.map(String);
  const byCat = cats.map(() => []);
  const strips = SLICE_STATES.map(() => []);
  let n = 0;
  let seed = 1;
  const jitter = () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.5;
  for (let i = 0; i < points.size; i++) {
    const y = points.objective[i];
    const s = sliceGroup(points, i);
    const c = cats.indexOf(String(points.params[name][i]));
    if (y === null || s < 0 || c < 0) continue;
    strips[s].push([c + jitter(), y, i]);
    if (points.state[i] === "completed") byCat[c].push(y);
    n++;
  }
  // the boxes use every completed trial; past STRIP_MAX points a strip shows an even sample
  const shown = strips.reduce((k, st) => k + st.length, 0);
  for (let s = 0; s < strips.length && shown > STRIP_MAX; s++) {
    const step = shown / STRIP_MAX;
    strips[s] = strips[s].filter((_, k) => Math.floor(k / step) !== Math.floor((k - 1) / step));
  }
  el.dataset.shown = String(strips.reduce((k, st) => k + st.length, 0));
  el.dataset.points = String(n);
  if (!n) {
    el._echart?.dispose();
    el._echart = null;
    el.replaceChildren(h("div", { class: "empty" }, "no finished trials yet"));
    return;
  }
  if (!el._echart) {
    el.replaceChildren();
    el._echart = echarts.init(el, null, { renderer: "canvas" });
    el._echart.on("click", (p) => {
      if (p.seriesType === "scatter") location.href = href(p.data[2]);
    });
  }
  const big = n > 5000;
  el._echart.setOption({
    animation: false,
    grid: { left: 56, right: 12, top: 12, bottom: 40 },
    tooltip: { trigger: "item", confine: true },
    xAxis: [{ type: "category", data: cats, name, nameLocation: "middle", nameGap: 26 },
            { type: "value", min: -0.5, max: cats.length - 0.5, show: false }],
    yAxis: { type: "value", scale: true, name: study.metric, nameTextStyle: { align: "left" },
             axisLabel: { formatter: (v) => fmt(v) } },
    series: [
      { type: "boxplot", name: "completed", xAxisIndex: 0, z: 3,
        itemStyle: { color: "rgba(37, 99, 235, 0.08)", borderColor: "#1e3a8a" },
        data: byCat.map((ys) => (ys.length ? boxStats(ys.sort((a, b) => a - b)) : [])),
        tooltip: { formatter: (p) => `${p.name}: median ${fmt(p.data[2])} ` +
                   `(${byCat[p.dataIndex].length} completed)` } },
      ...SLICE_STATES.map((g, s) => ({
        type: "scatter", name: g.state, xAxisIndex: 1, data: strips[s], large: big,
        symbolSize: big ? 2 : 5, itemStyle: { color: g.color }, z: 2,
        tooltip: { formatter: (p) => describe(p.data[2]) },
      })),
    ],
  }, { replaceMerge: ["series"] });
}
