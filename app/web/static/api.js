// Shared by every page: API calls with the bearer token, number formatting, tiny DOM helpers
// and polling. The token lives in sessionStorage only (gone when the tab closes).
"use strict";

const API_ROOT = "/api/v1";
const TOKEN_KEY = "hpsearch.token";
const STATES = ["completed", "pruned", "aborted", "failed", "running", "queued"];

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
    this.status = status;
    this.detail = detail;
  }
}

let tokenPrompt = null; // one dialog at a time, shared by concurrent 401s

/** Ask for a token in a modal dialog; resolves once one is stored. */
function askToken(message) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const input = h("input", { type: "password", name: "token", autocomplete: "off",
                               placeholder: "hps_..." });
    const form = h("form", { method: "dialog" },
      h("h2", {}, "API token"),
      h("p", { class: "muted" }, message,
        " It is kept in this browser tab only (sessionStorage)."),
      input, h("button", { type: "submit" }, "Use token"));
    const dialog = h("dialog", { id: "token-dialog" }, form);
    form.addEventListener("submit", () => {
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      dialog.remove();
      tokenPrompt = null;
      resolve();
    });
    dialog.addEventListener("cancel", (e) => e.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

/** fetch() an API path; on 401 ask for a token and try again. */
async function apiFetch(path, params = {}) {
  const url = new URL(API_ROOT + path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, v);
  }
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    let res;
    try {
      res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    } catch {
      throw new ApiError(0, "the hpsearch server cannot be reached (it may be down or " +
                            "restarting); retrying");
    }
    if (res.status === 401) {
      await askToken(token ? "That token was refused; try another." :
                             "This server requires an API token.");
      continue;
    }
    if (!res.ok) {
      let detail = res.statusText;
      try { detail = (await res.json()).detail; } catch { /* not JSON */ }
      throw new ApiError(res.status, detail);
    }
    return res;
  }
}

async function api(path, params) {
  return (await apiFetch(path, params)).json();
}

/** Download an API response as a file (works with a token, unlike a plain link). */
async function download(path, params, filename) {
  const blob = await (await apiFetch(path, params)).blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** Create an element: h("a", {href: "/"}, "text", child, ...). */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) node.append(c);
  }
  return node;
}

/** A JSON value as a finite number, or null ("nan", "inf", strings, missing). */
function num(v) {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** Compact human form of a number or value. */
function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "boolean") return String(v);
  if (typeof v !== "number") return Array.isArray(v) ? `[${v.map(fmt).join(", ")}]` : String(v);
  if (!Number.isFinite(v) || v === 0 || Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

function badge(state) {
  return h("span", { class: `badge ${state}` }, state);
}

/** Trial counts per state as badges, in lifecycle order. */
function countBadges(counts) {
  const known = STATES.filter((s) => counts[s]);
  const other = Object.keys(counts).filter((s) => !STATES.includes(s));
  return [...known, ...other].map((s) => h("span", { class: `badge ${s}`, title: s },
                                             `${s} ${counts[s]}`));
}

let lastUpdate = null; // when the page last heard from the server

function showError(err) {
  const banner = document.getElementById("error");
  if (!banner) return;
  const since = lastUpdate ? ` What you see is from ${lastUpdate.toLocaleTimeString()}.` : "";
  const text = err instanceof ApiError && err.status === 0 ? `Offline: ${err.detail}.`
    : err instanceof ApiError && err.status >= 500 ? `The server failed (${err.message}).`
    : String(err.message || err);
  banner.textContent = text + since;
  banner.classList.add("shown");
}

/** Replace the page's content with a not-found card (polling stops: the caller returns
 *  null to poll). */
function showNotFound(what) {
  document.title = `hpsearch: ${what} not found`;
  clearError();
  document.querySelector("main").replaceChildren(h("section", { class: "card", id: "not-found" },
    h("h1", {}, `${what[0].toUpperCase()}${what.slice(1)} not found`),
    h("p", {}, `There is no ${what} here. It may have been deleted, or the address is wrong.`),
    h("p", {}, h("a", { href: "/" }, "See every study"))));
  document.getElementById("live").textContent = "";
}

/** The positive integer id at the end of the page's path, or null. */
function pathId() {
  const last = location.pathname.split("/").pop();
  return /^[1-9][0-9]{0,17}$/.test(last) ? Number(last) : null;
}

function clearError() {
  document.getElementById("error")?.classList.remove("shown");
}

/** Run fn now and again after the number of ms it returns (null: stop); pauses while the
 *  tab is hidden. Errors show in the banner and polling goes on; "updated" tells when the
 *  last poll succeeded. */
function poll(fn) {
  let paused = false;
  async function tick() {
    if (document.hidden) {
      paused = true;
      return;
    }
    let next = 5000;
    try {
      next = await fn();
      clearError();
      lastUpdate = new Date();
      const live = document.getElementById("live");
      const gone = document.getElementById("not-found");
      if (live && !gone) live.textContent = `updated ${lastUpdate.toLocaleTimeString()}`;
    } catch (err) {
      showError(err); // the "updated" time keeps saying when the data is from
    }
    if (next !== null) setTimeout(tick, next);
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && paused) {
      paused = false;
      tick();
    }
  });
  tick();
}
