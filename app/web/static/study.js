// The study page: summary, warnings, stages, scatter plots and the server-paginated
// leaderboard. It polls the study and, when anything changed, redraws in place.
"use strict";

const studyId = pathId();
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

let study = null; // the last GET /studies/{id}
let fingerprint = "";
const points = new PointStore(); // every trial, kept current from the points endpoint
const curves = new CurveStore(); // every trial's per-epoch objective
// ECharts (1 MB) loads while the first data is fetched rather than before it
const echartsLoaded = new Promise((resolve, reject) => {
  document.head.append(h("script", { src: "/static/vendor/echarts/echarts.min.js",
    onload: resolve, onerror: () => reject(new Error("could not load the chart library")) }));
});
const CHART_SHARE = 20;
let chartsVersion = ""; // the data the charts were last drawn from
let nextChartsAt = 0; // performance.now() before which the charts are not redrawn

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

// --- summary, warnings, stages -------------------------------------------------------

function renderSummary() {
  const s = study;
  document.title = `hpsearch: ${s.name}`;
  document.getElementById("crumb").textContent = `#${s.id} ${s.name}`;
  document.getElementById("summary").replaceChildren(
    h("h1", {}, s.name, " ", badge(s.state)),
    h("div", { class: "row" },
      s.state_reason && h("span", { class: "muted" }, s.state_reason),
      h("span", { class: "kv" }, "dataset ", h("b", {}, s.dataset ?? "custom")),
      h("span", { class: "kv" }, `${s.direction} `, h("b", {}, s.metric)),
      h("span", { class: "kv" }, "best ", h("b", { id: "best" }, fmt(s.best))),
      h("span", { class: "kv" }, "stage ", h("b", { id: "current-stage" }, stageOf(s))),
      h("span", {}, countBadges(s.counts)),
      s.counts.aborted ? h("span", { class: "muted", id: "aborted-why" }, abortedWords()) : null,
      h("span", { class: "kv" }, "export ",
        h("button", { type: "button", onclick: () => exportAs("csv") }, "CSV"),
        h("button", { type: "button", onclick: () => exportAs("json") }, "JSON"))));
}

/** Why trials were aborted, in words: "aborted: 9 diverged, 4 stalled at chance". */
function abortedWords() {
  let diverged = 0;
  let stalled = 0;
  for (let i = 0; i < points.size; i++) {
    if (points.state[i] !== "aborted") continue;
    if (points.stalled.has(points.trial_id[i])) stalled++; else diverged++;
  }
  return `aborted: ${diverged} diverged, ${stalled} stalled at chance`;
}

/** "1 of 0–2": stages are numbered from 0 on every page, in the CLI and in the API. */
function stageOf(s) {
  const last = Math.max(s.spec.stages.length, s.stages.length) - 1;
  return last > 0 ? `${s.current_stage} of 0–${last}` : String(s.current_stage);
}

function exportAs(format) {
  download(`/studies/${studyId}/export`, { format }, `study-${studyId}.${format}`)
    .catch(showError);
}

function renderWarnings() {
  const list = study.warning_list;
  document.getElementById("warnings").hidden = list.length === 0;
  document.getElementById("warning-list").replaceChildren(...list.map((w) =>
    h("div", { class: "warning", "data-kind": w.kind },
      w.stage !== null ? h("span", { class: "muted" }, `stage ${w.stage}: `) : null,
      w.message)));
}

function rangeText(p) {
  if (p.type === "choice") return `{${p.values.map(fmt).join(", ")}}`;
  if (p.type === "fixed") return `= ${fmt(p.value)}`;
  const log = p.type === "log_uniform" || p.log ? "log " : "";
  return `${log}[${fmt(p.low)}, ${fmt(p.high)}]`;
}

function renderStages() {
  const names = [...new Set(study.stages.flatMap((s) => Object.keys(s.space)))];
  const head = h("tr", {}, ["stage", "state", "trials × epochs", "sampler", "pruning",
                            "trials per state", ...names].map((t) => h("th", {}, t)));
  const rows = study.stages.map((s) => h("tr", {},
    h("td", {}, String(s.index)),
    h("td", {}, s.state),
    h("td", {}, s.budget == null ? `${s.trials} × ${s.epochs}`
      : `${s.trials} × ≤${s.epochs} (budget ${s.epochs_spent}/${s.budget} epochs)`),
    h("td", {}, s.sampler),
    h("td", {}, s.pruning.rule ?? "none"),
    h("td", {}, countBadges(s.counts)),
    names.map((n) => h("td", {}, s.space[n] ? rangeText(s.space[n]) : "–"))));
  document.getElementById("stages").replaceChildren(h("thead", {}, head),
                                                    h("tbody", {}, rows));
  const select = document.getElementById("filter-stage");
  const chosen = select.value;
  select.replaceChildren(h("option", { value: "" }, "all"),
    ...study.stages.map((s) => h("option", { value: s.index }, String(s.index))));
  select.value = chosen;
}

// --- scatter plots -------------------------------------------------------------------

function describe(i) {
  const p = Object.entries(points.params).map(([k, v]) => `${k}=${fmt(v[i])}`).join(" ");
  const state = points.state[i] === "aborted" ? `aborted: ${pointGroup(i)}` : points.state[i];
  return `trial ${points.trial_id[i]} (stage ${points.stage[i]}, ${state}): ` +
         `${study.metric} ${fmt(points.objective[i])}  ${p}`;
}

const trialHref = (i) => `/trials/${points.trial_id[i]}`;

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

/** Choice parameters: name -> every value any stage offers, in space order. */
function choiceParams() {
  const out = new Map();
  for (const stage of study.stages) {
    for (const [name, p] of Object.entries(stage.space)) {
      if (p.type !== "choice") continue;
      const values = out.get(name) ?? [];
      for (const v of p.values) if (!values.some((w) => String(w) === String(v))) values.push(v);
      out.set(name, values);
    }
  }
  return out;
}

/** A titled chart container in holder, kept across refreshes (charts update in place). */
function chartSlot(holder, id, title, cls, attrs = {}) {
  let el = document.getElementById(id);
  if (!el) {
    el = h("div", { class: cls, id, ...attrs });
    holder.append(h("div", {}, h("div", { class: "chart-title" }, title), el));
  }
  return el;
}

function renderPlots() {
  const params = numericParams();
  const choices = choiceParams();
  const holder = document.getElementById("param-charts");
  const ids = [...params.keys(), ...choices.keys()].map((n) => `chart-${n}`);
  for (const block of [...holder.children]) {
    const el = block.querySelector(".chart, .echart");
    if (!ids.includes(el?.id)) { el?._echart?.dispose(); block.remove(); }
  }
  document.getElementById("param-section").hidden = ids.length === 0;
  for (const [name, info] of params) {
    paramChart(chartSlot(holder, `chart-${name}`, name, "chart", { "data-param": name }),
               name, info);
  }
  for (const [name, values] of choices) {
    sliceChart(chartSlot(holder, `chart-${name}`, `${name} (choice)`, "echart slice",
                         { "data-param": name }),
               name, values, study, points, describe, trialHref);
  }
  historyChart(document.getElementById("history-chart"), points, study, describe, trialHref);
  parallelChart(document.getElementById("parallel-chart"), study, points, setBrush);

  const names = [...params.keys()];
  document.getElementById("pair-section").hidden = names.length < 2;
  if (names.length < 2) return;
  const [sx, sy] = [document.getElementById("pair-x"), document.getElementById("pair-y")];
  const [px, py] = [sx.value || names[0], sy.value || names[1]];
  for (const [select, chosen] of [[sx, px], [sy, py]]) {
    select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    select.value = names.includes(chosen) ? chosen : names[0];
  }
  pairChart(document.getElementById("pair-chart"), sx.value, sy.value, params);
}

for (const id of ["pair-x", "pair-y"]) {
  document.getElementById(id).addEventListener("change", () => {
    pairChart(document.getElementById("pair-chart"), document.getElementById("pair-x").value,
              document.getElementById("pair-y").value, numericParams());
  });
}

// --- polling -------------------------------------------------------------------------

/** The study, or null (after showing the not-found page) when there is none. */
async function getStudy() {
  if (studyId === null) return null;
  try {
    return await api(`/studies/${studyId}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

async function refresh() {
  const first = study === null;
  const s = await getStudy();
  if (s === null) {
    showNotFound(studyId === null ? "study" : `study ${studyId}`);
    return null; // stop polling
  }
  // The first time, fetch everything at once; afterwards only what changed.
  const fetchRest = () => Promise.all([fetchBoard(), points.load(studyId)]);
  const rest = first ? fetchRest() : null;
  const reports = first ? curves.load(studyId) : null;
  const print = JSON.stringify([s.state, s.counts, s.stages.map((x) => [x.state, x.counts]),
                                s.warnings]);
  if (print !== fingerprint) {
    fingerprint = print;
    study = s;
    const [drawBoard] = await (rest ?? fetchRest());
    renderSummary();
    renderWarnings();
    renderStages();
    drawBoard();
    loadImportance();
  }
  // reports arrive every epoch without changing any count, so follow them while it runs
  await (reports ?? (s.state === "running" ? curves.load(studyId) : false));
  const version = `${fingerprint} ${points.version} ${curves.version}`;
  if (version !== chartsVersion && (first || performance.now() >= nextChartsAt)) {
    // Redrawing every chart of 100,000 trials takes a while: redraw no more often than
    // keeps that under 1/CHART_SHARE of the time, so a big live study stays responsive.
    await echartsLoaded;
    const started = performance.now();
    renderPlots();
    curvesChart(document.getElementById("curves-chart"), curves, points, study, describe,
                trialHref);
    await drawn();
    chartsVersion = version;
    nextChartsAt = performance.now() + CHART_SHARE * (performance.now() - started);
  }
  if (first) {
    performance.mark("study-ready");
    document.getElementById(location.hash.slice(1))?.scrollIntoView();
  }
  return s.state === "running" ? 2000 : 10000;
}

// --- parameter importance (computed on the server; fetched when trials complete) ---------

let importance = null;
let importanceFor = null;

function loadImportance() {
  const done = study.counts.completed ?? 0;
  if (done === importanceFor) return;
  importanceFor = done;
  api(`/studies/${studyId}/importance`).then((data) => {
    importance = data;
    const select = document.getElementById("importance-scope");
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "" }, "the whole study"),
      ...data.stages.map((s) => h("option", { value: String(s.stage) }, `stage ${s.stage}`)));
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
    importanceBars(document.getElementById("importance"), data, select.value);
  }).catch(showError);
}

document.getElementById("importance-scope").addEventListener("change", (e) => {
  if (importance) importanceBars(document.getElementById("importance"), importance, e.target.value);
});

poll(refresh);
