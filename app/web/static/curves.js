// Intermediate values: every trial's per-epoch objective overlaid, pruned and aborted
// trials greyed so the pruning rule can be seen at work; click a curve to open its trial.
"use strict";

const CURVE_GREY = "rgba(75, 85, 99, 0.35)";
const CURVE_STATES = [
  { label: "pruned, aborted or failed", color: CURVE_GREY },
  { label: "completed", color: "rgba(37, 99, 235, 0.6)" },
  { label: "running", color: "rgba(5, 150, 105, 0.9)" },
];

/** Reports merged from the curves endpoint: trial id -> Map(step -> value). */
class CurveStore {
  constructor() {
    this.cursor = null;
    this.byTrial = new Map();
    this.version = 0;
  }

  async load(studyId) {
    const data = await api(`/studies/${studyId}/curves`,
                           this.cursor === null ? {} : { since: this.cursor });
    this.cursor = data.cursor;
    let changed = false;
    for (let k = 0; k < data.trial_id.length; k++) {
      let steps = this.byTrial.get(data.trial_id[k]);
      if (!steps) this.byTrial.set(data.trial_id[k], (steps = new Map()));
      if (steps.get(data.step[k]) !== data.value[k]) {
        steps.set(data.step[k], data.value[k]);
        changed = true;
      }
    }
    if (changed) this.version++;
    return changed;
  }
}

/** 0 greyed (ended early), 1 completed, 2 running; null for queued trials. */
function curveGroup(state) {
  if (state === "completed") return 1;
  if (state === "running") return 2;
  return ["pruned", "aborted", "failed"].includes(state) ? 0 : null;
}

function curvesChart(el, store, points, study, describe, href) {
  const lines = []; // {i (points index), group, xs, ys}
  let n = 0;
  for (const [id, steps] of store.byTrial) {
    const i = points.at.get(id);
    const group = i === undefined ? null : curveGroup(points.state[i]);
    if (group === null) continue;
    const pairs = [...steps].filter(([, v]) => v !== null).sort((a, b) => a[0] - b[0]);
    if (!pairs.length) continue;
    lines.push({ i, group, xs: pairs.map((p) => p[0]), ys: pairs.map((p) => p[1]) });
    n += pairs.length;
  }
  const [x0, x1] = extent(lines.flatMap((l) => [l.xs[0], l.xs[l.xs.length - 1]])) ?? [0, 1];
  const [y0, y1] = extent(lines.flatMap((l) => l.ys)) ?? [0, 1];
  const tooltip = h("div", { class: "tooltip" });
  let hovered = null;

  function nearest(u) {
    const { left, top } = u.cursor;
    if (left == null || left < 0) return null;
    let best = null;
    let bestD = HOVER_RADIUS * HOVER_RADIUS;
    for (const line of lines) {
      if (!u.series[line.group + 1].show) continue;
      for (let k = 0; k < line.xs.length; k++) {
        const dx = u.valToPos(line.xs[k], "x") - left;
        const dy = u.valToPos(line.ys[k], "y") - top;
        if (dx * dx + dy * dy <= bestD) { bestD = dx * dx + dy * dy; best = [line, k]; }
      }
    }
    return best;
  }

  function draw(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    ctx.lineWidth = (lines.length > 2000 ? 0.6 : 1.2) * uPlot.pxRatio;
    for (let g = 0; g < CURVE_STATES.length; g++) { // greyed first, so the rest sit on top
      if (!u.series[g + 1].show) continue;
      const path = new Path2D();
      for (const line of lines) {
        if (line.group !== g) continue;
        line.xs.forEach((x, k) => {
          const [px, py] = [u.valToPos(x, "x", true), u.valToPos(line.ys[k], "y", true)];
          if (k === 0) { path.moveTo(px, py); path.rect(px - 1, py - 1, 2, 2); }
          else path.lineTo(px, py);
        });
      }
      ctx.strokeStyle = CURVE_STATES[g].color;
      ctx.stroke(path);
    }
    if (u.series[1].show) { // where each greyed trial stopped: a cross on top of the rest
      const r = 3 * uPlot.pxRatio;
      const path = new Path2D();
      for (const line of lines) {
        if (line.group !== 0) continue;
        const k = line.xs.length - 1;
        const [px, py] = [u.valToPos(line.xs[k], "x", true), u.valToPos(line.ys[k], "y", true)];
        path.moveTo(px - r, py - r); path.lineTo(px + r, py + r);
        path.moveTo(px - r, py + r); path.lineTo(px + r, py - r);
      }
      ctx.strokeStyle = "rgba(55, 65, 81, 0.8)";
      ctx.lineWidth = 1.2 * uPlot.pxRatio;
      ctx.stroke(path);
    }
    if (hovered) {
      const [line] = hovered;
      ctx.strokeStyle = "#111827";
      ctx.lineWidth = 2.5 * uPlot.pxRatio;
      ctx.beginPath();
      line.xs.forEach((x, k) => {
        const [px, py] = [u.valToPos(x, "x", true), u.valToPos(line.ys[k], "y", true)];
        if (k === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
      });
      ctx.stroke();
    }
    ctx.restore();
  }

  const opts = {
    scales: { x: { time: false, range: () => [x0, Math.max(x1, x0 + 1)] },
              y: { range: () => padRange(y0, y1, false) } },
    axes: [axis("epoch", false, { incrs: EPOCH_INCRS }), axis(study.metric, false, { size: 56 })],
    height: 300,
    series: [{ label: "epoch" }, ...CURVE_STATES.map((g) => ({
      label: g.label, stroke: g.color, paths: () => null, points: { show: false },
    }))],
    legend: { live: false },
    cursor: { x: false, y: false, drag: { x: false, y: false }, points: { show: false } },
    hooks: {
      draw: [draw],
      setCursor: [(u) => {
        const next = nearest(u);
        const changed = next?.[0] !== hovered?.[0];
        hovered = next;
        if (changed) u.redraw(false);
        if (!hovered) { tooltip.style.display = "none"; u.over.style.cursor = ""; return; }
        const [line, k] = hovered;
        tooltip.textContent = `${describe(line.i)}  (epoch ${line.xs[k]}: ${fmt(line.ys[k])})`;
        tooltip.style.display = "block";
        tooltip.style.left = `${Math.min(u.valToPos(line.xs[k], "x") + 10,
                                         u.over.clientWidth - 220)}px`;
        tooltip.style.top = `${Math.max(u.valToPos(line.ys[k], "y") - 30, 0)}px`;
        u.over.style.cursor = "pointer";
      }],
    },
  };
  const u = mountChart(el, opts, [[x0, x1], ...CURVE_STATES.map(() => [null, null])], n);
  el.dataset.curves = String(lines.length);
  if (u) {
    u.over.append(tooltip);
    u.over.addEventListener("click", () => {
      if (hovered) location.href = href(hovered[0].i);
    });
  }
}
