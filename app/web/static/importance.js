// Parameter importance, computed on the server: one bar per parameter for the whole study
// or for one stage, with the method named and a note when there is too little to say.
"use strict";

function importanceBars(el, data, scope) {
  const part = scope === "" ? data.whole
    : data.stages.find((s) => String(s.stage) === scope) ?? data.whole;
  const entries = Object.entries(part.importances ?? {});
  el.dataset.bars = String(entries.length);
  const bars = entries.map(([name, share]) => h("div", { class: "bar-row" },
    h("span", { class: "bar-label", title: name }, name),
    h("span", { class: "bar-track" },
      h("span", { class: "bar", style: `width: ${(100 * share).toFixed(1)}%` })),
    h("span", { class: "bar-value" }, `${(100 * share).toFixed(0)}%`)));
  el.replaceChildren(h("div", {},
    bars,
    part.note && h("p", { class: "empty note" }, part.note),
    h("p", { class: "chart-note" }, `${part.trials} completed trials. Method: ${data.method}`,
      part.r2 === null ? "" : `; held-out R² of the forest ${fmt(part.r2)}.`)));
}
