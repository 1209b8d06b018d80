// Optimization history: each finished trial's objective in the order trials finished,
// coloured by stage, with the best-so-far line.
"use strict";

const STAGE_COLORS = ["#4b5563", "#9333ea", "#059669", "#ea580c", "#be185d", "#0891b2"];

/** Finished trials with an objective, in finishing order (ties by trial id). */
function finishingOrder(points) {
  const idx = [];
  for (let i = 0; i < points.size; i++) {
    if (points.objective[i] !== null && points.finished_ms[i] !== null) idx.push(i);
  }
  return idx.sort((a, b) => points.finished_ms[a] - points.finished_ms[b] ||
                            points.trial_id[a] - points.trial_id[b]);
}

function historyChart(el, points, study, describe, href) {
  const order = finishingOrder(points);
  const maximize = study.direction === "maximize";
  const best = [];
  let running = null;
  for (const i of order) {
    const v = points.objective[i];
    if (running === null || (maximize ? v > running : v < running)) running = v;
    best.push(running);
  }
  const stages = [...new Set(order.map((i) => points.stage[i]))].sort((a, b) => a - b);
  const [lo, hi] = extent(order.map((i) => points.objective[i])) ?? [0, 1];
  scatterChart(el, {
    x: order.map((_, k) => k + 1),
    y: order.map((i) => points.objective[i]),
    group: order.map((i) => stages.indexOf(points.stage[i])),
    groups: stages.map((s) => ({ label: `stage ${s}`,
                                 color: STAGE_COLORS[s % STAGE_COLORS.length] })),
    xLabel: "finished trials, in finishing order",
    yLabel: study.metric,
    xRange: [0, Math.max(order.length + 1, 2)],
    yRange: padRange(lo, hi, false),
    height: 300,
    overlay(u) {
      const ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#dc2626";
      ctx.lineWidth = 2 * uPlot.pxRatio;
      ctx.beginPath();
      best.forEach((v, k) => {
        const [x, y] = [u.valToPos(k + 1, "x", true), u.valToPos(v, "y", true)];
        if (k === 0) ctx.moveTo(x, y);
        else { ctx.lineTo(x, u.valToPos(best[k - 1], "y", true)); ctx.lineTo(x, y); }
      });
      ctx.stroke();
      ctx.restore();
      if (best.length) {
        canvasText(u, `best so far ${fmt(best[best.length - 1])}`,
                   u.bbox.left + 6 * uPlot.pxRatio, u.bbox.top + 14 * uPlot.pxRatio, "#b91c1c");
      }
    },
    describe: (k) => describe(order[k]),
    href: (k) => href(order[k]),
  });
}
