// The study page: summary, warnings, stages, scatter plots and the server-paginated
// leaderboard. It polls the study and, when anything changed, redraws in place.
"use strict";

const studyId = Number(location.pathname.split("/").pop());
const board = { sort: null, order: "asc", stage: "", state: "", offset: 0, limit: 50 };
const VIRIDIS = ["#440154", "#443983", "#31688e", "#21918c", "#35b779", "#90d743", "#fde725"];
const STAGE_BAND = "rgba(37, 99, 235, 0.08)";
const STAGE_BOX = ["rgba(75, 85, 99, 0.9)", "rgba(147, 51, 234, 0.9)", "rgba(5, 150, 105, 0.9)",
                   "rgba(234, 88, 12, 0.9)", "rgba(190, 24, 93, 0.9)"];
const EDGE_ZONE = "rgba(249, 115, 22, 0.35)";
const STATE_GROUPS = [
  { state: "completed", label: "completed", color: "#2563eb", fill: "rgba(37, 99, 235, 0.55)" },
  { state: "pruned", label: "pruned", color: "#d97706", fill: "none" },
  { state: "aborted", label: "aborted (diverged)", color: "#dc2626",
    fill: "rgba(220, 38, 38, 0.7)" },
  { state: "failed", label: "failed", color: "#6b7280", fill: "none" },
];

let study = null; // the last GET /studies/{id}
let fingerprint = "";
const points = new PointStore(); // every trial, kept current from the points endpoint
let metricColumns = []; // metric columns of the leaderboard; grows, never shrinks
let boardRequest = 0;
let firstRender = true;

// --- parameters and ranges -----------------------------------------------------------

/** Numeric parameters: name -> {log, ranges: [{stage, low, high}]}, in space order. */
function numericParams() {
  const out = new Map();
  for (const stage of study.stages) {
    for (const [name, p] of Object.entries(stage.space)) {
      if (!["log_uniform", "uniform", "int"].includes(p.type)) continue;
      if (!out.has(name)) out.set(name, { log: p.type === "log_uniform" || !!p.log, ranges: [] });
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
      h("span", { class: "kv" }, "export ",
        h("button", { type: "button", onclick: () => exportAs("csv") }, "CSV"),
        h("button", { type: "button", onclick: () => exportAs("json") }, "JSON"))));
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
  return `trial ${points.trial_id[i]} (stage ${points.stage[i]}, ${points.state[i]}): ` +
         `${study.metric} ${fmt(points.objective[i])}  ${p}`;
}

const trialHref = (i) => `/trials/${points.trial_id[i]}`;

/** Objective against one parameter, with stage bands, edge zones and a no-objective strip. */
function paramChart(el, name, info) {
  const idx = [];
  for (let i = 0; i < points.trial_id.length; i++) {
    const v = num(points.params[name][i]);
    const g = STATE_GROUPS.findIndex((s) => s.state === points.state[i]);
    if (g >= 0 && v !== null && (!info.log || v > 0)) idx.push([i, g]);
  }
  const ys = idx.map(([i]) => points.objective[i]).filter((v) => v !== null);
  const [yLo, yHi] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
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
    height: 280,
    xLabel: info.log ? `${name} (log)` : name,
    yLabel: study.metric,
    xLog: info.log,
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
    const done = STATE_GROUPS.some((s) => s.state === points.state[i]);
    if (done && ok(num(points.params[xName][i]), xi) && ok(num(points.params[yName][i]), yi)) {
      all.push(i);
    }
  }
  const objs = all.map((i) => points.objective[i]).filter((v) => v !== null);
  const [lo, hi] = objs.length ? [Math.min(...objs), Math.max(...objs)] : [0, 1];
  const width = (hi - lo) / VIRIDIS.length || 1;
  const best = study.direction === "maximize" ? (b) => b : (b) => VIRIDIS.length - 1 - b;
  const bin = (v) => Math.min(Math.floor((v - lo) / width), VIRIDIS.length - 1);
  const groups = VIRIDIS.map((_, b) => ({
    label: `${fmt(lo + b * width)}–${fmt(lo + (b + 1) * width)}`,
    color: VIRIDIS[best(b)],
  }));
  groups.push({ label: "no objective", color: "#9ca3af", fill: "none" });
  const raw = all.map((i) => (points.objective[i] === null ? VIRIDIS.length
                                                           : bin(points.objective[i])));
  const used = [...new Set(raw)].sort((a, b) => a - b);
  const boxes = study.stages.filter((s) => s.space[xName]?.low !== undefined &&
                                           s.space[yName]?.low !== undefined);
  scatterChart(el, {
    x: all.map((i) => points.params[xName][i]),
    y: all.map((i) => points.params[yName][i]),
    group: raw.map((g) => used.indexOf(g)),
    groups: used.map((g) => groups[g]),
    xLabel: xi.log ? `${xName} (log)` : xName,
    yLabel: yi.log ? `${yName} (log)` : yName,
    xLog: xi.log,
    yLog: yi.log,
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

function renderPlots() {
  const params = numericParams();
  const holder = document.getElementById("param-charts");
  const blocks = [...params].map(([name, info]) => {
    const chart = h("div", { class: "chart", id: `chart-${name}`, "data-param": name });
    return [h("div", {}, h("div", { class: "chart-title" }, name), chart), chart, name, info];
  });
  holder.replaceChildren(...blocks.map(([block]) => block));
  document.getElementById("param-section").hidden = params.size === 0;
  for (const [, chart, name, info] of blocks) paramChart(chart, name, info);

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

// --- leaderboard ---------------------------------------------------------------------

function columns() {
  const params = Object.entries(study.spec.space)
    .filter(([, p]) => p.type !== "fixed").map(([name]) => name);
  return [
    { key: "rank", label: "rank", title: "rank by the objective in the whole study",
      value: (r) => objectiveRank(r.trial_id) },
    { key: "trial_id", label: "trial", value: (r) => r.trial_id },
    { key: "stage", label: "stage", value: (r) => r.stage },
    { key: "state", label: "state", value: (r) => r.state },
    { key: "objective", label: `${study.metric} (objective)`, value: (r) => r.objective },
    ...params.map((p) => ({ key: `params.${p}`, label: p, value: (r) => r.params[p] })),
    ...metricColumns.map((m) => ({ key: `metrics.${m}`, label: m, value: (r) => r.metrics[m] })),
    { key: "epochs_run", label: "epochs", value: (r) => r.epochs_run },
  ];
}

/** A trial's rank by the objective among every trial of the study that has one (ties by
 *  trial id, as the server ranks), whatever the table is sorted or filtered by. */
function objectiveRank(trialId) {
  const at = points.at.get(trialId);
  const mine = at === undefined ? null : points.objective[at];
  if (mine === null) return null;
  const better = study.direction === "maximize" ? (v) => v > mine : (v) => v < mine;
  let rank = 1;
  for (let i = 0; i < points.objective.length; i++) {
    const v = points.objective[i];
    if (v !== null && (better(v) || (v === mine && points.trial_id[i] < trialId))) rank++;
  }
  return rank;
}

function sortBy(key) {
  if (key === "rank") {
    board.sort = null;
    board.order = "asc";
  } else if (board.sort === key) {
    board.order = board.order === "asc" ? "desc" : "asc";
  } else {
    board.sort = key;
    const bestFirst = key === "objective" && study.direction === "maximize";
    board.order = bestFirst ? "desc" : "asc";
  }
  board.offset = 0;
  loadBoard().catch(showError);
}

function cell(col, row) {
  const v = col.value(row);
  let content = fmt(v);
  if (col.key === "trial_id") content = h("a", { href: `/trials/${v}` }, `#${v}`);
  if (col.key === "state") content = badge(v);
  return h("td", { class: typeof v === "number" ? "num" : null,
                   "data-value": JSON.stringify(v ?? null) }, content);
}

function renderBoard(data) {
  for (const r of data.rows) {
    for (const m of Object.keys(r.metrics)) {
      if (![study.metric, "epochs_run"].includes(m) && !metricColumns.includes(m)) {
        metricColumns.push(m);
      }
    }
  }
  const cols = columns();
  const active = board.sort ?? "rank";
  const head = h("tr", {}, cols.map((c) => h("th", {
    class: `sortable${c.key === active ? " sorted" : ""}${
      c.key === active && board.order === "desc" ? " desc" : ""}`,
    "data-sort": c.key,
    title: c.title ?? `sort by ${c.label}`,
    onclick: () => sortBy(c.key),
  }, c.label)));
  const rows = data.rows.map((r) => h("tr", { "data-trial-id": r.trial_id },
                                       cols.map((c) => cell(c, r))));
  document.getElementById("board").replaceChildren(h("thead", {}, head), h("tbody", {}, rows));
  const last = Math.min(board.offset + board.limit, data.total);
  document.getElementById("page-info").textContent = data.total
    ? `${board.offset + 1}–${last} of ${data.total}` : "no trials";
  document.getElementById("prev").disabled = board.offset === 0;
  document.getElementById("next").disabled = last >= data.total;
}

/** Fetch the leaderboard page the controls ask for; resolves to a render function that
 *  draws it unless a newer request was made meanwhile. */
async function fetchBoard() {
  const ticket = ++boardRequest;
  const data = await api(`/studies/${studyId}/leaderboard`, {
    limit: board.limit, offset: board.offset, stage: board.stage, state: board.state,
    sort: board.sort, order: board.sort ? board.order : null,
  });
  return () => { if (ticket === boardRequest) renderBoard(data); };
}

async function loadBoard() {
  (await fetchBoard())();
}

function onBoardControl(id, apply) {
  document.getElementById(id).addEventListener("change", (e) => {
    apply(e.target.value);
    board.offset = 0;
    loadBoard().catch(showError);
  });
}
onBoardControl("filter-stage", (v) => { board.stage = v; });
onBoardControl("filter-state", (v) => { board.state = v; });
onBoardControl("page-size", (v) => { board.limit = Number(v); });
document.getElementById("prev").addEventListener("click", () => {
  board.offset = Math.max(0, board.offset - board.limit);
  loadBoard().catch(showError);
});
document.getElementById("next").addEventListener("click", () => {
  board.offset += board.limit;
  loadBoard().catch(showError);
});

// --- polling -------------------------------------------------------------------------

async function refresh() {
  // The first time, fetch everything at once; afterwards only what changed.
  const fetchRest = () => Promise.all([fetchBoard(), points.load(studyId)]);
  const rest = study === null ? fetchRest() : null;
  const s = await api(`/studies/${studyId}`);
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
    renderPlots();
    if (firstRender) {
      firstRender = false;
      await drawn();
      performance.mark("study-ready");
      document.getElementById(location.hash.slice(1))?.scrollIntoView();
    }
  }
  return s.state === "running" ? 2000 : 10000;
}

poll(refresh);
