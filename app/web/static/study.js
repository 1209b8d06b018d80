// The study page: summary, warnings, stages, and every chart and the leaderboard kept
// current by polling: the first poll fetches everything, later ones only what changed.
"use strict";

const studyId = pathId();
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

/** "1 (of 0–2)": stages are numbered from 0 on every page, in the CLI and in the API. */
function stageOf(s) {
  const last = Math.max(s.spec.stages.length, s.stages.length) - 1;
  return last > 0 ? `${s.current_stage} (of 0–${last})` : String(s.current_stage);
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
