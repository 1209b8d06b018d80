// The study page's leaderboard: server-paginated and sortable by any column; while a
// range is brushed in the parallel coordinates it lists the brushed trials from the points
// the page already holds. The rank column is always the rank by the objective.
"use strict";

const board = { sort: null, order: "asc", stage: "", state: "", offset: 0, limit: 50 };
let metricColumns = []; // metric columns of the leaderboard; grows, never shrinks
let boardRequest = 0;
let brushed = null; // trial ids inside every brushed range, or null

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

let ranking = { version: -1, sorted: null, ids: null }; // see objectiveRank

/** First index in the sorted array a whose value is >= v (or > v with `after`). */
function bound(a, v, after) {
  let [lo, hi] = [0, a.length];
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < v || (after && a[mid] === v)) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** A trial's rank by the objective among every trial of the study that has one (ties by
 *  trial id, as the server ranks), whatever the table is sorted or filtered by. The sorted
 *  objectives and the ids per objective value are built once per change of the points. */
function objectiveRank(trialId) {
  const at = points.at.get(trialId);
  const mine = at === undefined ? null : points.objective[at];
  if (mine === null) return null;
  if (ranking.version !== points.version) {
    const ids = new Map(); // objective -> trial ids in ascending order
    for (let i = 0; i < points.size; i++) {
      const v = points.objective[i];
      if (v === null) continue;
      const list = ids.get(v);
      if (list) list.push(points.trial_id[i]); else ids.set(v, [points.trial_id[i]]);
    }
    ranking = { version: points.version, sorted: Float64Array.from(ids.keys()).sort(), ids };
    ranking.counts = new Float64Array(ranking.sorted.length + 1); // trials below each value
    ranking.sorted.forEach((v, k) => { ranking.counts[k + 1] = ranking.counts[k] + ids.get(v).length; });
  }
  const { sorted, counts, ids } = ranking;
  const k = bound(sorted, mine, false);
  const better = study.direction === "maximize" ? counts[sorted.length] - counts[k + 1]
                                                : counts[k];
  return better + bound(ids.get(mine), trialId, false) + 1;
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

/** The brushed trials as a leaderboard page, filtered, sorted and paged by the controls
 *  (metrics and epochs are not in the points, so those columns sort by rank). */
function brushedBoard() {
  const maximize = study.direction === "maximize";
  const idx = [];
  for (const id of brushed) {
    const i = points.at.get(id);
    if (i === undefined) continue;
    if (board.stage !== "" && String(points.stage[i]) !== board.stage) continue;
    if (board.state !== "" && points.state[i] !== board.state) continue;
    idx.push(i);
  }
  const byRank = (a, b) => {
    const [x, y] = [points.objective[a], points.objective[b]];
    if (x !== y) return x === null ? 1 : y === null ? -1 : maximize ? y - x : x - y;
    return points.trial_id[a] - points.trial_id[b];
  };
  const key = board.sort ?? "rank";
  const field = key.startsWith("params.") ? points.params[key.slice(7)]
    : { trial_id: points.trial_id, stage: points.stage, state: points.state,
        objective: points.objective }[key];
  const sign = board.order === "desc" ? -1 : 1;
  const compare = (a, b) => {
    const [x, y] = [field[a], field[b]];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    if (typeof x === "number" && typeof y === "number") return sign * (x - y);
    if (typeof x === "number") return -1;
    if (typeof y === "number") return 1;
    return sign * String(x).localeCompare(String(y));
  };
  idx.sort(field ? (a, b) => compare(a, b) || byRank(a, b) : byRank);
  const rows = idx.slice(board.offset, board.offset + board.limit).map((i) => ({
    trial_id: points.trial_id[i], stage: points.stage[i], state: points.state[i],
    objective: points.objective[i], epochs_run: null, metrics: {},
    params: Object.fromEntries(Object.entries(points.params).map(([k, v]) => [k, v[i]])),
  }));
  return { rows, total: idx.length };
}

/** Brushing in the parallel coordinates: list only these trial ids (null: all again). */
function setBrush(ids) {
  const same = ids === brushed || (ids && brushed && ids.size === brushed.size &&
                                   [...ids].every((id) => brushed.has(id)));
  if (same) return;
  brushed = ids;
  const info = document.getElementById("brush-info");
  info.hidden = !ids;
  info.textContent = ids ? `brushed: ${ids.size} trials in the parallel coordinates` : "";
  board.offset = 0;
  loadBoard().catch(showError);
}

/** Fetch the leaderboard page the controls ask for; resolves to a render function that
 *  draws it unless a newer request was made meanwhile. */
async function fetchBoard() {
  const ticket = ++boardRequest;
  if (brushed) {
    const data = brushedBoard();
    return () => { if (ticket === boardRequest) renderBoard(data); };
  }
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

