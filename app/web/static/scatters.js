// Scatter plots of trials: the objective against each numeric parameter (stage ranges as
// bands, edge zones, a strip for trials without an objective) and two parameters against
// each other coloured by objective quantiles.
"use strict";

const VIRIDIS = ["#440154", "#443983", "#31688e", "#21918c", "#35b779", "#90d743", "#fde725"];
const STAGE_BAND = "rgba(37, 99, 235, 0.08)";
const STAGE_BOX = ["rgba(75, 85, 99, 0.9)", "rgba(147, 51, 234, 0.9)", "rgba(5, 150, 105, 0.9)",
                   "rgba(234, 88, 12, 0.9)", "rgba(190, 24, 93, 0.9)"];
const EDGE_ZONE = "rgba(249, 115, 22, 0.35)";
const STATE_GROUPS = [
  { key: "completed", label: "completed", color: "#2563eb", fill: "rgba(37, 99, 235, 0.55)" },
  { key: "pruned", label: "pruned", color: "#d97706", fill: "none" },
  { key: "diverged", label: "aborted: diverged", color: "#dc2626",
    fill: "rgba(220, 38, 38, 0.7)" },
  { key: "stalled", label: "aborted: stalled at chance", color: "#6d28d9",
    fill: "rgba(109, 40, 217, 0.25)" },
  { key: "failed", label: "failed", color: "#6b7280", fill: "none" },
];

/** A finished trial's group in the scatter legends (aborted split into diverged and
 *  stalled at chance), or null while it is queued or running. */
function pointGroup(i) {
  const state = points.state[i];
  if (state === "aborted") return points.stalled.has(points.trial_id[i]) ? "stalled" : "diverged";
  return ["completed", "pruned", "failed"].includes(state) ? state : null;
}

// --- parameters and ranges -----------------------------------------------------------

/** Numeric parameters: name -> {log, int, ranges: [{stage, low, high}]}, in space order. */
function numericParams() {
  const out = new Map();
  for (const stage of study.stages) {
    for (const [name, p] of Object.entries(stage.space)) {
      if (!["log_uniform", "uniform", "int"].includes(p.type)) continue;
      if (!out.has(name)) {
        out.set(name, { log: p.type === "log_uniform" || !!p.log, int: p.type === "int",
                        ranges: [] });
      }
      out.get(name).ranges.push({ stage: stage.index, low: p.low, high: p.high });
    }
  }
  return out;
}

/** The [lo, hi] that shows every stage's range and every value, padded. */
function axisRange(info, values) {
  let lo = Math.min(...info.ranges.map((r) => r.low));
  let hi = Math.max(...info.ranges.map((r) => r.high));
  for (const v of values) {
    if (v === null || (info.log && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return padRange(lo, hi, info.log);
}

/** Where an edge warning's zone lies: the outer edge_fraction of its range, in scale space. */
function edgeZone(warning, log) {
  const [low, high] = warning.details.range;
  const f = study.spec.refine?.edge_fraction ?? 0.1;
  const to = log ? Math.log10 : (v) => v;
  const from = log ? (v) => 10 ** v : (v) => v;
  const [a, b] = [to(low), to(high)];
  return warning.side === "upper" ? [from(b - f * (b - a)), high] : [low, from(a + f * (b - a))];
}

/** Objective against one parameter, with stage bands, edge zones and a no-objective strip. */
function paramChart(el, name, info) {
  const idx = [];
  for (let i = 0; i < points.trial_id.length; i++) {
    const v = num(points.params[name][i]);
    const g = STATE_GROUPS.findIndex((s) => s.key === pointGroup(i));
    if (g >= 0 && v !== null && (!info.log || v > 0)) idx.push([i, g]);
  }
  const [yLo, yHi] = extent(idx.map(([i]) => points.objective[i])) ?? [0, 1];
  const span = yHi - yLo || Math.abs(yHi) || 1;
  const strip = yLo - 0.12 * span;
  const hasStrip = idx.some(([i]) => points.objective[i] === null);
  const all = idx.map(([i]) => i);
  const used = [...new Set(idx.map(([, g]) => g))].sort((a, b) => a - b);
  const edges = study.warning_list.filter((w) => w.kind === "edge" && w.param === name &&
                                                 w.details.range);
  scatterChart(el, {
    x: all.map((i) => points.params[name][i]),
    y: all.map((i) => points.objective[i] ?? strip),
    group: idx.map(([, g]) => used.indexOf(g)),
    groups: used.map((g) => STATE_GROUPS[g]),
    order: used.map((g, k) => k).sort((a, b) => (used[a] === 0) - (used[b] === 0)), // completed on top
    height: 280,
    xLabel: info.log ? `${name} (log)` : name,
    yLabel: study.metric,
    xLog: info.log,
    xInt: info.int,
    xRange: axisRange(info, all.map((i) => points.params[name][i])),
    yRange: [hasStrip ? strip - 0.06 * span : yLo - 0.05 * span, yHi + 0.05 * span],
    underlay(u) {
      for (const r of info.ranges) fillX(u, r.low, r.high, STAGE_BAND);
      for (const w of edges) fillX(u, ...edgeZone(w, info.log), EDGE_ZONE);
      if (hasStrip) {
        const y = u.valToPos(strip, "y", true);
        u.ctx.fillStyle = "rgba(107, 114, 128, 0.1)";
        u.ctx.fillRect(u.bbox.left, y - 7 * uPlot.pxRatio, u.bbox.width, 14 * uPlot.pxRatio);
      }
    },
    overlay(u) {
      const px = uPlot.pxRatio;
      for (const r of info.ranges) {
        canvasText(u, `stage ${r.stage}`, u.valToPos(r.low, "x", true) + 3 * px,
                   u.bbox.top + 12 * px * (1 + r.stage), "#1d4ed8");
      }
      for (const w of edges) {
        const [a] = edgeZone(w, info.log);
        canvasText(u, `${w.side} edge`, u.valToPos(a, "x", true) + 3 * px,
                   u.bbox.top + u.bbox.height / 2, "#9a3412");
      }
      if (hasStrip) {
        canvasText(u, "no objective", u.bbox.left + 4 * px,
                   u.valToPos(strip, "y", true) - 9 * px, "#4b5563");
      }
    },
    describe: (k) => describe(all[k]),
    href: (k) => trialHref(all[k]),
  });
  el.dataset.edgeZones = String(edges.length);
}

/** Two parameters against each other, coloured by objective bins (best is yellow). */
function pairChart(el, xName, yName, params) {
  const [xi, yi] = [params.get(xName), params.get(yName)];
  const ok = (v, info) => v !== null && (!info.log || v > 0);
  const all = [];
  for (let i = 0; i < points.trial_id.length; i++) {
    const done = pointGroup(i) !== null;
    if (done && ok(num(points.params[xName][i]), xi) && ok(num(points.params[yName][i]), yi)) {
      all.push(i);
    }
  }
  // bins by quantile, so a few diverged trials cannot squeeze the rest into one colour
  const objs = all.map((i) => points.objective[i]).filter((v) => v !== null)
    .sort((a, b) => a - b);
  const edges = VIRIDIS.map((_, b) => objs[Math.floor((b * objs.length) / VIRIDIS.length)])
    .concat([objs[objs.length - 1]]);
  const best = study.direction === "maximize" ? (b) => b : (b) => VIRIDIS.length - 1 - b;
  const bin = (v) => {
    let b = 0;
    while (b < VIRIDIS.length - 1 && v >= edges[b + 1]) b++;
    return b;
  };
  const groups = VIRIDIS.map((_, b) => ({
    label: `${fmt(edges[b])}–${fmt(edges[b + 1])}`,
    color: VIRIDIS[best(b)],
  }));
  groups.push({ label: "no objective", color: "#9ca3af", fill: "none" });
  const raw = all.map((i) => (points.objective[i] === null ? VIRIDIS.length
                                                           : bin(points.objective[i])));
  const used = [...new Set(raw)].sort((a, b) => a - b);
  const rank = (g) => (g === VIRIDIS.length ? -1 : best(g)); // worst first, best on top
  const boxes = study.stages.filter((s) => s.space[xName]?.low !== undefined &&
                                           s.space[yName]?.low !== undefined);
  scatterChart(el, {
    x: all.map((i) => points.params[xName][i]),
    y: all.map((i) => points.params[yName][i]),
    group: raw.map((g) => used.indexOf(g)),
    groups: used.map((g) => groups[g]),
    order: used.map((g, k) => k).sort((a, b) => rank(used[a]) - rank(used[b])),
    xLabel: xi.log ? `${xName} (log)` : xName,
    yLabel: yi.log ? `${yName} (log)` : yName,
    xLog: xi.log,
    yLog: yi.log,
    xInt: xi.int,
    yInt: yi.int,
    xRange: axisRange(xi, all.map((i) => points.params[xName][i])),
    yRange: axisRange(yi, all.map((i) => points.params[yName][i])),
    height: 420,
    underlay(u) {
      for (const s of boxes) {
        box(u, [s.space[xName].low, s.space[xName].high], [s.space[yName].low, s.space[yName].high],
            STAGE_BOX[s.index % STAGE_BOX.length]);
      }
    },
    overlay(u) {
      for (const s of boxes) {
        const x = Math.min(u.valToPos(s.space[xName].low, "x", true),
                           u.valToPos(s.space[xName].high, "x", true));
        const y = Math.min(u.valToPos(s.space[yName].low, "y", true),
                           u.valToPos(s.space[yName].high, "y", true));
        canvasText(u, `stage ${s.index}`, x + 4 * uPlot.pxRatio, y + 13 * uPlot.pxRatio,
                   STAGE_BOX[s.index % STAGE_BOX.length]);
      }
    },
    describe: (k) => describe(all[k]),
    href: (k) => trialHref(all[k]),
  });
}
