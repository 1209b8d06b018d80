// Charts on top of uPlot: line charts over epochs, and scatter plots of trials with shaded
// ranges, hover details and click-through. Every chart container gets data-points (how
// many values it drew) so a test or a person can tell an empty chart from a drawn one.
"use strict";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
                 "#be185d", "#4d7c0f"];
const CHART_HEIGHT = 240;
const HOVER_RADIUS = 8; // CSS pixels
const EPOCH_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000];

const mounted = new Set();
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const el of mounted) {
      if (!el.isConnected) { mounted.delete(el); continue; }
      el._chart.setSize({ width: chartWidth(el), height: el._chart.height });
    }
  }, 100);
});

function chartWidth(el) {
  return Math.max(240, el.clientWidth);
}

/** Ticks of a log axis: 1-2-5 per decade on short ranges, powers of ten on long ones. */
function logSplits(u, axisIdx, min, max) {
  const [lo, hi] = [Math.floor(Math.log10(min)), Math.ceil(Math.log10(max))];
  const mults = hi - lo > 3 ? [1] : [1, 2, 5];
  const step = Math.max(1, Math.ceil((hi - lo) / 8));
  const out = [];
  for (let e = lo; e <= hi; e += step) {
    for (const m of mults) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= min && v <= max) out.push(v);
    }
  }
  return out.length >= 2 ? out : [min, max];
}

/** Ticks of a log axis of integers: powers of two (every other one on long ranges). */
function pow2Splits(u, axisIdx, min, max) {
  const [lo, hi] = [Math.ceil(Math.log2(min)), Math.floor(Math.log2(max))];
  const step = Math.max(1, Math.ceil((hi - lo + 1) / 9));
  const out = [];
  for (let e = lo; e <= hi; e += step) out.push(2 ** e);
  return out.length >= 2 ? out : logSplits(u, axisIdx, min, max);
}

/** An axis; `log` is false, true or "int" (a log axis of integers, ticked at powers of two).
 *  Every split gets its label (uPlot's log axes would drop all but the powers of ten). */
function axis(label, log, extra = {}) {
  return { label, values: (u, splits) => splits.map((v) => (v == null ? "" : fmt(v))),
           ...(log ? { splits: log === "int" ? pow2Splits : logSplits,
                       filter: (u, splits) => splits } : {}), ...extra };
}

/** Resolves once charts created so far have drawn (uPlot draws in a microtask). */
function drawn() {
  return new Promise((resolve) => setTimeout(resolve));
}

/** Replace whatever chart `el` holds with a new uPlot; returns it. */
function mountChart(el, opts, data, points) {
  if (el._chart) el._chart.destroy();
  el.replaceChildren();
  el.dataset.points = String(points);
  if (!points) {
    el._chart = null;
    mounted.delete(el);
    el.append(h("div", { class: "empty" }, "no data yet"));
    return null;
  }
  const size = { width: chartWidth(el), height: opts.height ?? CHART_HEIGHT };
  el._chart = new uPlot({ ...opts, ...size }, data, el);
  mounted.add(el);
  return el._chart;
}

/**
 * A line chart over epochs.
 * cfg: {x, xLabel, yLabel, yLog, series: [{label, values, color, dash}],
 *       guide: {value, label}, band: [i, j] (fill between series i and j)}
 */
function lineChart(el, cfg) {
  const clean = (v) => {
    const n = num(v);
    return n === null || (cfg.yLog && n <= 0) ? null : n;
  };
  const series = cfg.series.map((s) => ({ ...s, values: s.values.map(clean) }));
  const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0);
  const data = [cfg.x, ...series.map((s) => s.values)];
  const uSeries = [{ label: cfg.xLabel || "epoch" }, ...series.map((s, i) => ({
    label: s.label,
    stroke: s.color || PALETTE[i % PALETTE.length],
    dash: s.dash,
    width: 1.5,
    spanGaps: false,
    value: (u, v) => fmt(v),
    points: { size: 5 },
  }))];
  const hooks = {};
  if (cfg.guide) {
    // a series keeps the guide in the y range and the legend; the hook draws it edge to
    // edge, so it shows even for a single epoch
    data.push(cfg.x.map(() => cfg.guide.value));
    uSeries.push({ label: cfg.guide.label, stroke: "#9ca3af", paths: () => null,
                   points: { show: false }, value: () => fmt(cfg.guide.value) });
    hooks.draw = [(u) => guideLine(u, cfg.guide.value)];
  }
  const opts = {
    scales: { x: { time: false }, y: { distr: cfg.yLog ? 3 : 1, range: cfg.yRange } },
    axes: [axis(cfg.xLabel || "epoch", false, { incrs: EPOCH_INCRS }),
           axis(cfg.yLabel, cfg.yLog, { size: 56 })],
    series: uSeries,
    cursor: { drag: { x: true, y: false } },
    hooks,
  };
  if (cfg.band) {
    opts.bands = [{ series: cfg.band.map((i) => i + 1), fill: "rgba(220, 38, 38, 0.12)" }];
  }
  return mountChart(el, opts, data, points);
}

/** A dashed horizontal line across the plot at y = value. */
function guideLine(u, value) {
  const px = uPlot.pxRatio;
  const y = u.valToPos(value, "y", true);
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = "#6b7280";
  ctx.lineWidth = px;
  ctx.setLineDash([6 * px, 4 * px]);
  ctx.beginPath();
  ctx.moveTo(u.bbox.left, y);
  ctx.lineTo(u.bbox.left + u.bbox.width, y);
  ctx.stroke();
  ctx.restore();
}

/** [lo, hi] padded by `pad` of the span, in log space when `log`. */
function padRange(lo, hi, log, pad = 0.04) {
  if (log) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const d = Math.max(b - a, 0.1) * pad;
    return [10 ** (a - d), 10 ** (b + d)];
  }
  const d = (hi - lo || Math.abs(hi) || 1) * pad;
  return [lo - d, hi + d];
}

/** Canvas pixel positions of vals on scale `key` (x or y): the same as uPlot's valToPos,
 *  without a function call per point. */
function pixels(u, key, vals) {
  const s = u.scales[key];
  const f = s.distr === 3 ? Math.log10 : (v) => v;
  const [a, b] = [f(s.min), f(s.max)];
  const { left, top, width, height } = u.bbox;
  const out = new Float64Array(vals.length);
  const k = (key === "x" ? width : height) / (b - a);
  for (let i = 0; i < vals.length; i++) {
    const p = (f(vals[i]) - a) * k;
    out[i] = key === "x" ? left + p : top + height - p;
  }
  return out;
}

/** Draw each visible group's points in one pass: circles for a few hundred points,
 *  squares (much cheaper to rasterize) for thousands; hollow when a group has no fill.
 *  Leaves the points' canvas positions in cfg.px for hit-testing. */
function drawPoints(u, cfg) {
  const px = uPlot.pxRatio;
  const n = cfg.x.length;
  const many = n > 3000;
  const r = (many ? 1.6 : n > 300 ? 2.5 : 3.5) * px;
  const { left, top, width, height } = u.bbox;
  const [xs, ys] = [pixels(u, "x", cfg.x), pixels(u, "y", cfg.y)];
  cfg.px = { x: xs, y: ys };
  const ctx = u.ctx;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left - r, top - r, width + 2 * r, height + 2 * r);
  ctx.clip();
  ctx.lineWidth = 1.2 * px;
  ctx.setLineDash([]);
  const order = (cfg.order ?? cfg.groups.map((_, i) => i)).filter((gi) => u.series[gi + 1].show);
  if (many) { // thousands: filled squares straight into pixels (fillRect each is slow)
    blitSquares(ctx, u.bbox, Math.max(1, Math.round(r)), xs, ys, cfg.group,
                order.filter((gi) => cfg.groups[gi].fill !== "none")
                  .map((gi) => [gi, rgba(cfg.groups[gi].fill ?? cfg.groups[gi].color)]));
  }
  for (const gi of order) {
    const g = cfg.groups[gi];
    if (many && g.fill !== "none") continue;
    const path = new Path2D();
    for (let i = 0; i < n; i++) {
      if (cfg.group[i] !== gi) continue;
      if (many) {
        path.rect(xs[i] - r, ys[i] - r, 2 * r, 2 * r);
      } else {
        path.moveTo(xs[i] + r, ys[i]);
        path.arc(xs[i], ys[i], r, 0, 2 * Math.PI);
      }
    }
    if (g.fill !== "none") {
      ctx.fillStyle = g.fill ?? g.color;
      ctx.fill(path);
    }
    ctx.strokeStyle = g.color;
    ctx.stroke(path);
  }
  ctx.restore();
}

const colorCache = new Map();

/** A CSS colour as [r, g, b, a] (0-255, a 0-1), read back from a 1-pixel canvas. */
function rgba(css) {
  if (!colorCache.has(css)) {
    const ctx = h("canvas", { width: 1, height: 1 }).getContext("2d", { willReadFrequently: true });
    ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
    colorCache.set(css, [r, g, b, a / 255]);
  }
  return colorCache.get(css);
}

/** Squares of half-size r (canvas px) at (xs, ys), blended "source-over" group by group
 *  into an image of the plot area, then drawn over what the canvas already holds. */
function blitSquares(ctx, bbox, r, xs, ys, group, groups) {
  const [w, hgt] = [Math.ceil(bbox.width), Math.ceil(bbox.height)];
  if (w <= 0 || hgt <= 0 || !groups.length) return;
  const img = new ImageData(w, hgt);
  const d = img.data;
  for (const [gi, [cr, cg, cb, ca]] of groups) {
    for (let i = 0; i < xs.length; i++) {
      if (group[i] !== gi) continue;
      const x0 = Math.max(0, Math.round(xs[i] - bbox.left) - r);
      const y0 = Math.max(0, Math.round(ys[i] - bbox.top) - r);
      const x1 = Math.min(w, x0 + 2 * r);
      const y1 = Math.min(hgt, y0 + 2 * r);
      for (let y = y0; y < y1; y++) {
        for (let x = x0, k = (y * w + x0) * 4; x < x1; x++, k += 4) {
          const da = d[k + 3] / 255;
          const oa = ca + da * (1 - ca);
          d[k] = (cr * ca + d[k] * da * (1 - ca)) / oa;
          d[k + 1] = (cg * ca + d[k + 1] * da * (1 - ca)) / oa;
          d[k + 2] = (cb * ca + d[k + 2] * da * (1 - ca)) / oa;
          d[k + 3] = oa * 255;
        }
      }
    }
  }
  const off = h("canvas", { width: w, height: hgt });
  off.getContext("2d").putImageData(img, 0, 0);
  ctx.drawImage(off, bbox.left, bbox.top);
}

/**
 * A scatter of trials. uPlot draws the axes, scales, legend (click a group to hide it) and
 * cursor; the points are drawn by drawPoints, since one series per group would cost a
 * mostly-null array per group and uPlot's per-point circles are slow for 10,000 trials.
 * cfg: {x, y, group (index per point), groups: [{label, color, fill ("none": hollow)}],
 *       order (group indexes, the last drawn on top; default: as listed),
 *       xLabel, yLabel, xLog, yLog, xInt, yInt (integers: log ticks at powers of two),
 *       xRange, yRange, height, underlay(u) and overlay(u)
 *       (drawn under and over the points), describe(i) (hover text), href(i) (click)}
 */
function scatterChart(el, cfg) {
  const n = cfg.x.length;
  const data = [cfg.xRange, ...cfg.groups.map(() => [null, null])];
  const tooltip = h("div", { class: "tooltip" });
  let hovered = -1;

  function nearest(u) {
    const { left, top } = u.cursor;
    if (left == null || left < 0) return -1;
    let best = -1;
    let bestD = HOVER_RADIUS * HOVER_RADIUS;
    if (!cfg.px) return -1;
    const ratio = uPlot.pxRatio;
    for (let i = 0; i < n; i++) {
      if (!u.series[cfg.group[i] + 1].show) continue;
      const dx = (cfg.px.x[i] - u.bbox.left) / ratio - left;
      const dy = (cfg.px.y[i] - u.bbox.top) / ratio - top;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  const opts = {
    scales: {
      x: { time: false, distr: cfg.xLog ? 3 : 1, range: () => cfg.xRange },
      y: { distr: cfg.yLog ? 3 : 1, range: () => cfg.yRange },
    },
    axes: [axis(cfg.xLabel, cfg.xLog && (cfg.xInt ? "int" : true)),
           axis(cfg.yLabel, cfg.yLog && (cfg.yInt ? "int" : true), { size: 56 })],
    height: cfg.height,
    series: [{ label: cfg.xLabel }, ...cfg.groups.map((g) => ({
      label: g.label,
      stroke: g.color,
      fill: g.fill === "none" ? "transparent" : g.fill ?? g.color,
      paths: () => null,
      points: { show: false },
    }))],
    legend: { live: false },
    cursor: { x: false, y: false, drag: { x: false, y: false }, points: { show: false } },
    hooks: {
      drawClear: [(u) => cfg.underlay?.(u)],
      draw: [(u) => { drawPoints(u, cfg); cfg.overlay?.(u); }],
      setCursor: [(u) => {
        hovered = nearest(u);
        if (hovered < 0) { tooltip.style.display = "none"; u.over.style.cursor = ""; return; }
        tooltip.textContent = cfg.describe(hovered);
        tooltip.style.display = "block";
        const x = u.valToPos(cfg.x[hovered], "x");
        const y = u.valToPos(cfg.y[hovered], "y");
        tooltip.style.left = `${Math.min(x + 10, u.over.clientWidth - 220)}px`;
        tooltip.style.top = `${Math.max(y - 30, 0)}px`;
        u.over.style.cursor = cfg.href ? "pointer" : "";
      }],
    },
  };
  const u = mountChart(el, opts, data, n);
  if (u) {
    u.over.append(tooltip);
    u.over.addEventListener("click", () => {
      if (hovered >= 0 && cfg.href) location.href = cfg.href(hovered);
    });
  }
  return u;
}

/** Fill the plot area between x values a and b (full height) on a chart's canvas. */
function fillX(u, a, b, color) {
  const { top, height } = u.bbox;
  const x0 = u.valToPos(a, "x", true);
  const x1 = u.valToPos(b, "x", true);
  u.ctx.save();
  u.ctx.fillStyle = color;
  u.ctx.fillRect(Math.min(x0, x1), top, Math.abs(x1 - x0), height);
  u.ctx.restore();
}

/** Outline (and lightly fill) the box [x0, x1] x [y0, y1] on a chart's canvas. */
function box(u, [x0, x1], [y0, y1], color) {
  const px = uPlot.pxRatio;
  const xs = [u.valToPos(x0, "x", true), u.valToPos(x1, "x", true)];
  const ys = [u.valToPos(y0, "y", true), u.valToPos(y1, "y", true)];
  const [l, t, w, hgt] = [Math.min(...xs), Math.min(...ys), Math.abs(xs[1] - xs[0]),
                          Math.abs(ys[1] - ys[0])];
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5 * px;
  ctx.setLineDash([6 * px, 4 * px]);
  ctx.fillStyle = color.replace(/[\d.]+\)$/, "0.06)");
  ctx.fillRect(l, t, w, hgt);
  ctx.strokeRect(l, t, w, hgt);
  ctx.restore();
}

/** A small text label on a chart's canvas (canvas pixels), on a light backing. */
function canvasText(u, text, x, y, color = "#374151") {
  const ctx = u.ctx;
  const px = uPlot.pxRatio;
  ctx.save();
  ctx.font = `${11 * px}px system-ui, sans-serif`;
  ctx.textAlign = "left";
  ctx.textBaseline = "alphabetic";
  ctx.fillStyle = "rgba(255, 255, 255, 0.8)";
  ctx.fillRect(x - 2 * px, y - 10 * px, ctx.measureText(text).width + 4 * px, 13 * px);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
  ctx.restore();
}

/** [min, max] of the finite numbers in values (a loop: spreading 100,000 values overflows
 *  the call stack), or null when there are none. */
function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}
