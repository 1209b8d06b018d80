// The trial page: params, final metrics, the abort/prune reason, loss and accuracy curves,
// and per-layer diagnostics over epochs. Polls while the trial is queued or running.
"use strict";

const trialId = pathId();
const CURVE_KEYS = new Set(["epoch", "elapsed_s", "diagnostics", "train_loss", "val_loss",
                            "train_accuracy", "val_accuracy", "learning_rate"]);
let fingerprint = "";
let studyName = null;

/** One value per report: pick(metrics) for each, cleaned to a finite number or null. */
function curve(reports, pick) {
  return reports.map((r) => num(pick(r.metrics)));
}

/** Per-layer series of one diagnostics field over the reports. */
function layerSeries(reports, field, dash) {
  const layers = [...new Set(reports.flatMap((r) =>
    (r.metrics.diagnostics?.layers ?? []).map((l) => l.layer)))].sort((a, b) => a - b);
  const last = layers[layers.length - 1];
  return layers.map((layer, i) => ({
    label: `layer ${layer}${layer === last && layers.length > 1 ? " (scores)" : ""}`,
    color: PALETTE[i % PALETTE.length],
    dash,
    values: curve(reports, (m) => m.diagnostics?.layers?.find((l) => l.layer === layer)?.[field]),
  }));
}

function chartBlock(holder, title, note) {
  const chart = h("div", { class: "chart", "data-chart": title });
  holder.append(h("div", {}, h("div", { class: "chart-title" }, title),
                  note ? h("div", { class: "chart-note" }, note) : null, chart));
  return chart;
}

function kvRows(entries) {
  return entries.map(([k, v]) => h("tr", {}, h("th", {}, k),
    h("td", { class: typeof v === "number" ? "num" : null },
      v !== null && typeof v === "object" ? JSON.stringify(v) : fmt(v))));
}

function renderSummary(t) {
  document.title = `hpsearch: trial ${t.id}`;
  const studyLink = () => h("a", { href: `/studies/${t.study_id}` },
                            studyName ?? `study ${t.study_id}`);
  document.getElementById("crumb").replaceChildren(studyLink(), ` / trial #${t.id}`);
  const when = (s) => (s ? new Date(s).toLocaleString() : "–");
  const why = ["pruned", "aborted", "failed"].includes(t.state) ? `${t.state}: ` : "note: ";
  document.getElementById("summary").replaceChildren(h("div", {},
    h("h1", {}, `Trial #${t.id} `, badge(t.state)),
    h("div", { class: "row" },
      h("span", { class: "kv" }, "study ", studyLink()),
      h("span", { class: "kv" }, "stage ", h("b", {}, String(t.stage))),
      h("span", { class: "kv" }, "epochs ", h("b", {}, `${t.steps} / ${t.epochs}`)),
      h("span", { class: "kv" }, "objective ", h("b", { id: "objective" }, fmt(t.objective))),
      h("span", { class: "kv" }, "attempt ", h("b", {}, String(t.attempt))),
      h("span", { class: "kv" }, "origin ", h("b", {}, t.origin)),
      t.worker && h("span", { class: "kv" }, "worker ", h("b", {}, t.worker)),
      h("span", { class: "muted" },
        `started ${when(t.started_at)}, finished ${when(t.finished_at)}`)),
    t.reason && h("div", { class: "reason", id: "reason" }, h("b", {}, why), t.reason)));
}

function renderCurves(t) {
  const reports = t.reports;
  const x = reports.map((r) => r.step);
  const curves = document.getElementById("curves");
  curves.replaceChildren();
  const m = (key) => curve(reports, (r) => r[key]);
  lineChart(chartBlock(curves, "Loss"), { x, yLabel: "loss", series: [
    { label: "train loss", values: m("train_loss"), color: PALETTE[0] },
    { label: "val loss", values: m("val_loss"), color: PALETTE[1] },
  ] });
  lineChart(chartBlock(curves, "Train / val accuracy", "shaded: the train-val gap"), {
    x, yLabel: "accuracy", band: [0, 1], series: [
      { label: "train accuracy", values: m("train_accuracy"), color: PALETTE[0] },
      { label: "val accuracy", values: m("val_accuracy"), color: PALETTE[1] },
    ] });
  const rates = new Set(m("learning_rate").filter((v) => v !== null));
  if (rates.size > 1) {
    lineChart(chartBlock(curves, "Learning rate"), { x, yLabel: "learning rate", yLog: true,
      series: [{ label: "learning rate", values: m("learning_rate"), color: PALETTE[3] }] });
  }
  const other = [...new Set(reports.flatMap((r) => Object.keys(r.metrics)))]
    .filter((k) => !CURVE_KEYS.has(k) && reports.some((r) => num(r.metrics[k]) !== null));
  if (other.length) {
    lineChart(chartBlock(curves, "Other reported metrics"), { x, yLabel: "value",
      series: other.map((k, i) => ({ label: k, values: m(k), color: PALETTE[i % 8] })) });
  }

  const layers = document.getElementById("layers");
  layers.replaceChildren();
  lineChart(chartBlock(layers, "Update / parameter ratio per layer"), {
    x, yLabel: "||ΔW|| / ||W||", yLog: true, guide: { value: 1e-3, label: "1e-3 guide" },
    series: layerSeries(reports, "update_ratio") });
  lineChart(chartBlock(layers, "Activation mean per layer"), {
    x, yLabel: "mean", series: layerSeries(reports, "act_mean") });
  lineChart(chartBlock(layers, "Activation std per layer"), {
    x, yLabel: "std", series: layerSeries(reports, "act_std") });
  const dead = layerSeries(reports, "dead_fraction");
  const saturated = layerSeries(reports, "saturation_fraction", [5, 4]);
  for (const s of dead) s.label += " dead";
  for (const s of saturated) s.label += " saturated";
  lineChart(chartBlock(layers, "Dead (solid) and saturated (dashed) fraction"), {
    x, yLabel: "fraction", yRange: [0, 1], series: [...dead, ...saturated] });
}

function renderEpochs(t) {
  const keys = [...new Set(t.reports.flatMap((r) => Object.keys(r.metrics)))]
    .filter((k) => k !== "diagnostics" && k !== "epoch");
  document.getElementById("epochs").replaceChildren(
    h("thead", {}, h("tr", {}, h("th", {}, "step"), keys.map((k) => h("th", {}, k)))),
    h("tbody", {}, t.reports.map((r) => h("tr", {}, h("td", { class: "num" }, String(r.step)),
      keys.map((k) => h("td", { class: "num" }, fmt(r.metrics[k])))))));
}

/** What the trial ran with besides its parameters: the task's fixed settings. */
function renderSettings(study, t) {
  const task = study.spec.task ?? {};
  const fixed = Object.entries(study.stages.find((s) => s.index === t.stage)?.space ?? {})
    .filter(([name, p]) => p.type === "fixed" && !(name in t.params))
    .map(([name, p]) => [name, p.value]);
  const rows = [
    ["task", task.type ?? "builtin"],
    ...(task.dataset ? [["dataset", task.dataset]] : []),
    ...Object.entries(task.settings ?? {}),
    ...fixed,
    ["epochs", t.epochs],
  ];
  document.getElementById("settings").replaceChildren(...kvRows(rows));
}

/** The final metrics; while the trial runs, the latest epoch's. */
function renderMetrics(t) {
  const last = t.reports[t.reports.length - 1];
  const live = !Object.keys(t.metrics).length && last;
  document.getElementById("metrics-title").textContent = live
    ? `Latest metrics (epoch ${last.step}, ${t.state})` : "Final metrics";
  const entries = Object.entries(live ? last.metrics : t.metrics)
    .filter(([k]) => k !== "diagnostics");
  document.getElementById("metrics").replaceChildren(...kvRows(entries));
}

async function refresh() {
  let t = null;
  try {
    if (trialId !== null) t = await api(`/trials/${trialId}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  if (t === null) {
    showNotFound(trialId === null ? "trial" : `trial ${trialId}`);
    return null; // stop polling
  }
  if (studyName === null) {
    const study = await api(`/studies/${t.study_id}`);
    studyName = study.name;
    renderSettings(study, t);
  }
  const print = JSON.stringify([t.state, t.steps, t.reports.length, t.reason]);
  if (print !== fingerprint) {
    fingerprint = print;
    renderSummary(t);
    document.getElementById("params").replaceChildren(...kvRows(Object.entries(t.params)));
    renderMetrics(t);
    renderCurves(t);
    renderEpochs(t);
    if (!performance.getEntriesByName("trial-ready").length) {
      await drawn();
      performance.mark("trial-ready");
    }
  }
  return ["queued", "running"].includes(t.state) ? 2000 : null;
}

poll(refresh);
