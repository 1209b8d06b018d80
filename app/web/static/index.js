// The studies list: name, dataset, state, trials per state, best objective, warnings.
"use strict";

function studyRow(s) {
  const link = `/studies/${s.id}`;
  return h("tr", { "data-study-id": s.id },
    h("td", { class: "num" }, String(s.id)),
    h("td", {}, h("a", { href: link }, s.name)),
    h("td", {}, s.dataset ?? "–"),
    h("td", { title: s.state_reason ?? "" }, badge(s.state)),
    h("td", {}, countBadges(s.counts)),
    h("td", { title: `${s.direction} ${s.metric}` },
      fmt(s.best), h("span", { class: "muted" }, ` ${s.metric}`)),
    h("td", {}, s.warnings ? h("a", { href: `${link}#warnings`, class: "warn-count" },
                               `${s.warnings} open`) : "–"),
    h("td", { class: "muted" }, s.created_at ? new Date(s.created_at).toLocaleString() : "–"));
}

async function refresh() {
  const data = await api("/studies", { limit: 200 });
  document.querySelector("#studies tbody").replaceChildren(...data.items.map(studyRow));
  document.getElementById("studies-title").textContent =
    data.total > data.items.length ? `Studies (newest ${data.items.length} of ${data.total})`
                                   : `Studies (${data.total})`;
  document.getElementById("studies-empty").hidden = data.total > 0;
  const running = data.items.some((s) => s.state === "running");
  return running ? 3000 : 15000;
}

poll(refresh);
