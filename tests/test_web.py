"""The web page in headless Chromium against a real server whose study was trained for
real: the leaderboard's top trial, sorting, scatter plots, a trial's curves, live updates,
the token prompt, and a 10,000-trial study. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright

from app.cli.main import main as cli
from tests.conftest import REPO, ServerProcess, builtin_spec, custom_spec

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "test-artifacts"
TOKEN_KEY = "hpsearch.token"
BIG = 10_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs headless Chromium at /usr/bin/chromium "
                              "(apt-get install -y chromium)"),
]

# JS: how many clearly coloured pixels a chart's canvas holds (series and points; the
# grid, the axes and the pale range bands are grey or nearly white).
COLOURED_PIXELS = """(el) => {
  const canvas = el.querySelector("canvas");
  const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a > 128 && Math.max(r, g, b) - Math.min(r, g, b) > 100) n++;
  }
  return n;
}"""


@dataclass
class Site:
    url: str
    token: str
    http: httpx.Client
    study: int


def train_queued_trials(http: httpx.Client, study: int) -> None:
    """Be a worker: claim each queued trial, train it with the NumPy trainer on digits,
    report every epoch (stopping when the server prunes) and finish it."""
    from worker.datasets import load_dataset
    from worker.nn.config import config_from
    from worker.nn.trainer import train

    data = load_dataset("digits")
    while True:
        r = http.post("/api/v1/trials/claim", json={"worker": "web-test", "studies": [study]})
        if r.status_code == 204:
            return
        task = r.raise_for_status().json()
        token = task["lease_token"]

        def report(epoch: int, metrics: dict[str, Any], task: dict[str, Any] = task) -> bool:
            reply = http.post(f"/api/v1/trials/{task['id']}/report",
                              json={"lease_token": task["lease_token"], "step": epoch,
                                    "metrics": metrics})
            return bool(reply.raise_for_status().json()["should_stop"])

        config = config_from({**task["task"]["settings"], **task["params"]},
                             epochs=task["epochs"], seed=task["seed"])
        result = train(config, data, report)
        http.post(f"/api/v1/trials/{task['id']}/finish",
                  json={"lease_token": token, "state": result.state,
                        "metrics": result.metrics, "reason": result.reason}
                  ).raise_for_status()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server with auth on and a two-stage digits study, trained to the end."""
    token = "hps_" + secrets.token_hex(16)
    db = tmp_path_factory.mktemp("web") / "web.db"
    # leases outlast the module, so a trial a test leaves running stays running
    server = ServerProcess(f"sqlite:///{db}", env={"HPSEARCH_ADMIN_TOKEN": token,
                                                   "HPSEARCH_LEASE_SECONDS": "3600"}).start()
    http = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                        timeout=120)
    try:
        spec = builtin_spec(
            name="digits-web", seed=0,
            space={"learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-2},
                   "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0}},
            stages=[{"trials": 12, "epochs": 3, "pruning": {"rule": "none"}},
                    {"trials": 5, "epochs": 4}])
        study = http.post("/api/v1/studies", json=spec).raise_for_status().json()["id"]
        train_queued_trials(http, study)
        assert http.get(f"/api/v1/studies/{study}").json()["state"] == "completed"
        yield Site(server.url, token, http, study)
    finally:
        http.close()
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    """A tab that already holds the token, as after answering the prompt once."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {site.token!r})")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert not errors, errors


def open_study(page: Any, site: Site, study: int) -> None:
    page.goto(f"{site.url}/studies/{study}")
    page.wait_for_function("performance.getEntriesByName('study-ready').length > 0")


def column(page: Any, key: str) -> list[Any]:
    """The leaderboard's values in the column sorted by ``key``, top to bottom."""
    return page.evaluate("""(key) => {
      const ths = [...document.querySelectorAll("#board thead th")];
      const i = ths.findIndex((th) => th.dataset.sort === key);
      return [...document.querySelectorAll("#board tbody tr")]
        .map((tr) => JSON.parse(tr.children[i].dataset.value));
    }""", key)


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def best_trial(site: Site, study: int) -> dict[str, Any]:
    """The best trial by the export (not the leaderboard): highest objective, then id."""
    trials = site.http.get(f"/api/v1/studies/{study}/export",
                           params={"format": "json"}).json()["trials"]
    return min((t for t in trials if t["objective"] is not None),
               key=lambda t: (-t["objective"], t["id"]))


def test_study_page_shows_the_top_trial_and_sorts(page, site):
    open_study(page, site, site.study)
    best = best_trial(site, site.study)
    first = page.locator("#board tbody tr").first
    assert first.get_attribute("data-trial-id") == str(best["id"])
    assert first.locator("a").get_attribute("href") == f"/trials/{best['id']}"
    assert page.locator("#summary").inner_text().count("completed") >= 2  # state and counts
    shot(page, "study-page.png")

    page.click('th[data-sort="params.learning_rate"]')
    page.wait_for_selector('th.sorted[data-sort="params.learning_rate"]:not(.desc)')
    values = column(page, "params.learning_rate")
    assert len(values) > 1 and values == sorted(values)
    page.click('th[data-sort="params.learning_rate"]')
    page.wait_for_selector('th.sorted.desc[data-sort="params.learning_rate"]')
    values = column(page, "params.learning_rate")
    assert values == sorted(values, reverse=True)
    page.click('th[data-sort="rank"]')
    page.wait_for_selector('th.sorted[data-sort="rank"]')
    assert page.locator("#board tbody tr").first.get_attribute("data-trial-id") == str(best["id"])


def test_stages_warnings_and_scatter_plots(page, site):
    study = site.http.get(f"/api/v1/studies/{site.study}").json()
    open_study(page, site, site.study)
    assert page.locator("#stages tbody tr").count() == len(study["stages"]) == 2
    warnings = study["warning_list"]
    assert page.locator("#warning-list .warning").count() == len(warnings)
    finished = sum(n for state, n in study["counts"].items()
                   if state in ("completed", "pruned", "aborted", "failed"))
    for param in ("learning_rate", "reg"):
        chart = page.locator(f"#chart-{param}")
        assert chart.get_attribute("data-points") == str(finished)
        assert chart.evaluate(COLOURED_PIXELS) > 50
        edges = [w for w in warnings if w["kind"] == "edge" and w["param"] == param]
        assert chart.get_attribute("data-edge-zones") == str(len(edges))
    pair = page.locator("#pair-chart")
    assert pair.get_attribute("data-points") == str(finished)
    assert pair.evaluate(COLOURED_PIXELS) > 50

    # hovering the best trial's point names it; clicking opens its page
    best = best_trial(site, site.study)
    page.locator("#chart-learning_rate").scroll_into_view_if_needed()
    x, y = page.evaluate("""([lr, acc]) => {
      const u = document.getElementById("chart-learning_rate")._chart;
      const box = u.over.getBoundingClientRect();
      return [box.left + u.valToPos(lr, "x"), box.top + u.valToPos(acc, "y")];
    }""", [best["params"]["learning_rate"], best["objective"]])
    page.mouse.move(x, y)
    tooltip = page.locator("#chart-learning_rate .tooltip")
    assert f"trial {best['id']} " in tooltip.inner_text()
    page.mouse.click(x, y)
    page.wait_for_url(f"**/trials/{best['id']}")


def test_an_edge_warning_is_drawn_as_a_zone(page, site):
    study = site.http.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    lrs = [0.09, 0.07, 1e-3, 1e-4, 3e-5]  # the best two sit in the top 10% of [1e-5, 0.1]
    site.http.post(f"/api/v1/studies/{study}/trials", json={"trials": [
        {"params": {"x": 0.5, "lr": lr}, "result": {"state": "completed",
                                                   "metrics": {"val_accuracy": 0.9 - i / 10}}}
        for i, lr in enumerate(lrs)]}).raise_for_status()
    site.http.post(f"/api/v1/studies/{study}/refine", json={}).raise_for_status()
    open_study(page, site, study)
    assert "sits at the upper edge" in page.locator("#warning-list").inner_text()
    chart = page.locator("#chart-lr")
    assert chart.get_attribute("data-edge-zones") == "1"
    # the zone (log10 lr in [-1.4, -1]) is orange; the middle of the range is not
    reds = chart.evaluate("""(el) => {
      const u = el._chart;
      const y = u.bbox.top + u.bbox.height / 4;
      return [10 ** -1.2, 10 ** -3].map((lr) => {
        const [r, , b] = u.ctx.getImageData(u.valToPos(lr, "x", true), y, 1, 1).data;
        return r - b;
      });
    }""")
    assert reds[0] > 40 and reds[1] < 0, reds


def test_a_trial_has_one_number_on_the_page_in_the_cli_and_in_trial_show(page, site, capsys,
                                                                       monkeypatch):
    best = best_trial(site, site.study)
    worst = max((t for t in site.http.get(f"/api/v1/studies/{site.study}/export",
                                          params={"format": "json"}).json()["trials"]
                 if t["objective"] is not None), key=lambda t: (-t["objective"], t["id"]))
    assert best["number"] != best["id"]  # the per-study sequence is not what is shown
    open_study(page, site, site.study)
    row = page.locator(f'#board tbody tr[data-trial-id="{best["id"]}"]')
    assert row.locator("a").inner_text() == f"#{best['id']}"
    ranks = column(page, "rank")
    assert ranks == list(range(1, len(ranks) + 1))  # ties included, as the server ranks
    # sorted by another column, rank still means rank by the objective
    page.click('th[data-sort="params.learning_rate"]')
    page.wait_for_selector('th.sorted[data-sort="params.learning_rate"]')
    ranks = dict(zip(column(page, "trial_id"), column(page, "rank"), strict=True))
    assert ranks[best["id"]] == 1 and ranks[worst["id"]] == len(ranks)

    monkeypatch.setenv("COLUMNS", "200")
    assert cli(["leaderboard", str(site.study), "--top", "1", "--server", site.url,
                "--token", site.token]) == 0
    table = [line.split() for line in capsys.readouterr().out.splitlines()
             if line.strip()[:1].isdigit()]
    assert table[0][:2] == ["1", str(best["id"])]
    assert cli(["trial", "show", str(best["id"]), "--server", site.url,
                "--token", site.token]) == 0
    assert f"trial #{best['id']} " in capsys.readouterr().out

    page.goto(f"{site.url}/trials/{best['id']}")
    page.wait_for_function("performance.getEntriesByName('trial-ready').length > 0")
    assert page.locator("h1").inner_text().startswith(f"Trial #{best['id']} ")


def test_trial_page_draws_its_curves(page, site):
    open_study(page, site, site.study)
    page.locator("#board tbody tr").first.locator("a").click()
    page.wait_for_function("performance.getEntriesByName('trial-ready').length > 0")
    trial_id = int(page.url.rsplit("/", 1)[1])
    trial = site.http.get(f"/api/v1/trials/{trial_id}").json()
    epochs = len(trial["reports"])
    assert epochs >= 3
    assert page.locator("#objective").inner_text() == f"{trial['objective']:.4g}"
    assert "learning_rate" in page.locator("#params").inner_text()
    layers = len(trial["reports"][0]["metrics"]["diagnostics"]["layers"])
    expected = {
        "Loss": 2 * epochs,  # train and val loss
        "Train / val accuracy": 2 * epochs,
        "Update / parameter ratio per layer": layers * epochs,
        "Activation mean per layer": layers * epochs,
        "Activation std per layer": layers * epochs,
        "Dead (solid) and saturated (dashed) fraction": 2 * layers * epochs,
    }
    for title, points in expected.items():
        chart = page.locator(f'.chart[data-chart="{title}"]')
        assert chart.get_attribute("data-points") == str(points), title
        assert chart.evaluate(COLOURED_PIXELS) > 30, title
    shot(page, "trial-page.png")


def test_an_aborted_or_pruned_trial_shows_why(page, site):
    rows = site.http.get(f"/api/v1/studies/{site.study}/leaderboard",
                         params={"state": "pruned", "limit": 1}).json()["rows"]
    rows = rows or site.http.get(f"/api/v1/studies/{site.study}/leaderboard",
                                 params={"state": "aborted", "limit": 1}).json()["rows"]
    assert rows, "the seeded run prunes or aborts some trials"
    trial = site.http.get(f"/api/v1/trials/{rows[0]['trial_id']}").json()
    page.goto(f"{site.url}/trials/{trial['id']}")
    page.wait_for_function("performance.getEntriesByName('trial-ready').length > 0")
    assert page.locator("#reason").inner_text() == f"{trial['state']}: {trial['reason']}"


def test_the_page_follows_a_running_study_without_reloading(page, site):
    study = site.http.post("/api/v1/studies", json=custom_spec(trials=3)).json()["id"]
    open_study(page, site, study)
    assert page.locator("#board tbody tr").count() == 0
    page.evaluate("window.notReloaded = true")
    task = site.http.post("/api/v1/trials/claim",
                          json={"worker": "live", "studies": [study]}).json()
    site.http.post(f"/api/v1/trials/{task['id']}/finish", json={
        "lease_token": task["lease_token"], "state": "completed",
        "metrics": {"val_accuracy": 0.93}}).raise_for_status()
    page.wait_for_selector(f'#board tbody tr[data-trial-id="{task["id"]}"]', timeout=10_000)
    assert page.locator("#best").inner_text() == "0.93"
    assert "completed 1" in page.locator("#summary").inner_text()
    assert page.locator("#chart-x").get_attribute("data-points") == "1"
    assert page.evaluate("window.notReloaded") is True


def test_the_page_asks_for_a_token_and_keeps_it_in_the_session(browser, site):
    context = browser.new_context()
    tab = context.new_page()
    tab.goto(site.url + "/")
    dialog = tab.locator("#token-dialog")
    dialog.wait_for()
    assert "requires an API token" in dialog.inner_text()
    dialog.locator("input").fill("hps_wrong")
    dialog.locator("button").click()
    tab.wait_for_selector("#token-dialog >> text=refused")
    tab.locator("#token-dialog input").fill(site.token)
    tab.locator("#token-dialog button").click()
    tab.wait_for_selector(f'#studies tr[data-study-id="{site.study}"]')
    assert tab.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") == site.token
    assert tab.evaluate("localStorage.length") == 0
    assert "digits-web" in tab.locator("#studies").inner_text()
    context.close()


def test_a_ten_thousand_trial_study_page_shows_every_point(page, site):
    study = site.http.post("/api/v1/studies", json=builtin_spec(name="big", trials=1)).json()["id"]
    for start in range(0, BIG, 2_500):
        items = [{"params": {"learning_rate": 10 ** (-4 + 3 * ((i * 7919) % BIG) / BIG),
                             "reg": 10 ** (-6 + 4 * ((i * 104_729) % BIG) / BIG)},
                  "result": {"state": "completed", "metrics": {"val_accuracy": i / BIG}}}
                 for i in range(start, start + 2_500)]
        site.http.post(f"/api/v1/studies/{study}/trials",
                       json={"trials": items}).raise_for_status()
    open_study(page, site, study)  # once, so the recorded load is not the first ever
    started = time.perf_counter()
    open_study(page, site, study)
    wall = time.perf_counter() - started
    ready = page.evaluate("performance.getEntriesByName('study-ready')[0].startTime") / 1000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "study-10k-load.json").write_text(
        json.dumps({"trials": BIG + 1, "ready_s": ready, "wall_s": wall}))
    assert page.locator("#chart-learning_rate").get_attribute("data-points") == str(BIG)
    first = page.locator("#board tbody tr").first.get_attribute("data-trial-id")
    top = site.http.get(f"/api/v1/studies/{study}/leaderboard", params={"limit": 1}).json()
    assert first == str(top["rows"][0]["trial_id"]) and top["rows"][0]["objective"] == 0.9999
    shot(page, "study-10k.png")


@pytest.fixture(scope="module")
def quickstart(site: Site) -> int:
    """The study `hpsearch quickstart` runs (examples/digits_coarse_to_fine.yaml), trained."""
    import yaml

    spec = yaml.safe_load((REPO / "examples" / "digits_coarse_to_fine.yaml").read_text())
    study = site.http.post("/api/v1/studies", json=spec).raise_for_status().json()["id"]
    train_queued_trials(site.http, study)
    return study


# read at import, before the test session scrubs HPSEARCH_* from the environment
SCREENS_DIR = os.environ.get("HPSEARCH_SCREENS_DIR")


def screens(page: Any, name: str) -> None:
    """A full-page screenshot into test-artifacts/ (and SCREENS_DIR when set)."""
    shot(page, name)
    if SCREENS_DIR:
        Path(SCREENS_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENS_DIR) / name), full_page=True)


def test_the_quickstart_study_on_a_desktop(browser, site, quickstart):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {site.token!r})")
    tab = context.new_page()
    open_study(tab, site, quickstart)
    tab.wait_for_selector("#importance .bar-row, #importance .note")
    screens(tab, "study-quickstart-desktop.png")
    context.close()


MIXED_SPACE = {
    "lr": {"type": "log_uniform", "low": 1e-5, "high": 1e-1},
    "batch": {"type": "int", "low": 16, "high": 512, "log": True},
    "act": {"type": "choice", "values": ["relu", "tanh", "elu"]},
    "bn": {"type": "choice", "values": [True, False]},
}


@pytest.fixture(scope="module")
def mixed(site: Site) -> int:
    """A study over every parameter kind: 60 recorded trials, and 3 trained through the
    worker protocol with per-epoch reports (one of them pruned, one still running)."""
    spec = custom_spec(trials=3, epochs=4, space=MIXED_SPACE, name="mixed")
    study = site.http.post("/api/v1/studies", json=spec).raise_for_status().json()["id"]
    acts = ["relu", "tanh", "elu"]
    items = [{"params": {"lr": 10 ** (-5 + 4 * ((i * 37) % 60) / 60), "batch": 16 * 2 ** (i % 6),
                         "act": acts[i % 3], "bn": i % 2 == 0},
              "result": {"state": "completed" if i % 7 else "pruned",
                         "metrics": {"val_accuracy": 0.3 + (i % 3) * 0.2 + (i % 10) / 100}}}
             for i in range(60)]
    site.http.post(f"/api/v1/studies/{study}/trials", json={"trials": items}).raise_for_status()
    for k, end in enumerate(["completed", "pruned", None]):
        task = site.http.post("/api/v1/trials/claim",
                              json={"worker": "w", "studies": [study]}).raise_for_status().json()
        for step in range(1, (4 if end == "completed" else 2) + 1):
            site.http.post(f"/api/v1/trials/{task['id']}/report", json={
                "lease_token": task["lease_token"], "step": step,
                "metrics": {"val_accuracy": 0.2 + 0.1 * step + 0.05 * k}}).raise_for_status()
        if end:
            site.http.post(f"/api/v1/trials/{task['id']}/finish", json={
                "lease_token": task["lease_token"], "state": end,
                "metrics": {"val_accuracy": 0.3 + 0.1 * k}}).raise_for_status()
    return study


def test_every_view_draws_a_study_of_every_parameter_kind(page, site, mixed):
    open_study(page, site, mixed)
    with_objective = 62  # 60 recorded, 2 trained to the end
    assert page.locator("#history-chart").get_attribute("data-points") == str(with_objective)
    assert page.locator("#history-chart").evaluate(COLOURED_PIXELS) > 50
    parallel = page.locator("#parallel-chart")
    assert parallel.get_attribute("data-points") == str(with_objective)
    assert parallel.get_attribute("data-axes") == "5"  # 4 parameters and the objective
    for choice in ("act", "bn"):
        slice_ = page.locator(f"#chart-{choice}")
        assert slice_.get_attribute("data-points") == str(with_objective)
        assert slice_.locator("canvas").count() >= 1
    curves = page.locator("#curves-chart")
    assert curves.get_attribute("data-curves") == "3"  # completed, pruned and running
    assert curves.get_attribute("data-points") == str(4 + 2 + 2)
    page.wait_for_selector("#importance .bar-row")
    assert page.locator("#importance .bar-row").count() == 4
    assert "random forest" in page.locator("#importance").inner_text()
    # an int parameter on a log scale gets a readable tick per power of two or decade
    ticks = page.evaluate("document.getElementById('chart-batch')._chart.axes[0]._values")
    assert [t for t in ticks if t] == ["16", "32", "64", "128", "256", "512"], ticks


def test_every_view_shows_its_empty_state_without_finished_trials(page, site):
    study = site.http.post("/api/v1/studies", json=custom_spec(
        trials=2, space=MIXED_SPACE)).json()["id"]
    open_study(page, site, study)
    for chart in ("#history-chart", "#parallel-chart", "#curves-chart", "#chart-act"):
        assert page.locator(chart).get_attribute("data-points") == "0", chart
        assert page.locator(f"{chart} .empty").count() == 1, chart
    page.wait_for_selector("#importance .note")
    assert "at least" in page.locator("#importance").inner_text()


def test_brushing_the_parallel_coordinates_filters_the_leaderboard(page, site, mixed):
    open_study(page, site, mixed)
    chart = page.locator("#parallel-chart")
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    # drag along the objective axis (the last one, 64 px from the right) over its top half
    x = box["x"] + box["width"] - 64
    top, bottom = box["y"] + 28, box["y"] + box["height"] - 24
    page.mouse.move(x, top + 2)
    page.mouse.down()
    page.mouse.move(x, (top + bottom) / 2, steps=8)
    page.mouse.up()
    page.wait_for_selector("#brush-info:not([hidden])")
    low, high = page.evaluate("""() => {
      const model = document.getElementById("parallel-chart")._echart.getModel();
      const axis = model.getComponent("parallelAxis", 4);
      return axis.activeIntervals[0];
    }""")
    brushed = int(chart.get_attribute("data-brushed"))
    everything = site.http.get(f"/api/v1/studies/{mixed}/points").json()
    inside = [v for v in everything["objective"] if v is not None and low <= v <= high]
    assert 0 < brushed == len(inside) < 62
    assert page.locator("#page-info").inner_text().endswith(f"of {brushed}")
    objectives = column(page, "objective")
    assert objectives and all(low <= v <= high for v in objectives)
    assert objectives == sorted(objectives, reverse=True)  # still best first


PAGE_WIDTH = "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"


def test_no_page_scrolls_sideways_on_a_phone(browser, site, quickstart):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  device_scale_factor=2)
    context.add_init_script(f"sessionStorage.setItem({TOKEN_KEY!r}, {site.token!r})")
    tab = context.new_page()
    best = best_trial(site, quickstart)
    pages = {"/": "#studies tbody tr", f"/studies/{quickstart}": None,
             f"/trials/{best['id']}": None, "/studies/999999": "#not-found",
             "/trials/abc": "#not-found"}
    for path, ready in pages.items():
        tab.goto(site.url + path)
        if path.startswith("/studies/") and ready is None:
            tab.wait_for_function("performance.getEntriesByName('study-ready').length > 0")
            tab.wait_for_selector("#importance .bar-row, #importance .note")
            screens(tab, "study-quickstart-phone.png")
        elif ready is None:
            tab.wait_for_function("performance.getEntriesByName('trial-ready').length > 0")
        else:
            tab.wait_for_selector(ready)
        assert tab.evaluate(PAGE_WIDTH) <= 390, path
    context.close()


def test_a_missing_study_or_trial_is_a_page_that_stops_polling(page, site):
    api_calls: list[str] = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/v1/" in r.url else None)
    for path, title in [("/studies/999999", "Study 999999 not found"),
                        ("/trials/999999", "Trial 999999 not found"),
                        ("/studies/abc", "Study not found")]:
        api_calls.clear()
        response = page.goto(site.url + path)
        assert response.headers["content-type"].startswith("text/html"), path
        page.wait_for_selector("#not-found")
        assert page.locator("#not-found h1").inner_text() == title
        calls = len(api_calls)
        assert calls <= 1, api_calls  # one look, and none for an id that is not a number
        page.wait_for_timeout(5_500)  # longer than any poll interval of a page in trouble
        assert len(api_calls) == calls, api_calls
        assert page.locator("#live").inner_text() == ""


def test_the_banner_says_the_server_is_down_and_updated_stops(browser, tmp_path):
    server = ServerProcess(f"sqlite:///{tmp_path / 'down.db'}").start()
    try:
        study = httpx.post(f"{server.url}/api/v1/studies",
                           json=custom_spec(trials=2)).json()["id"]  # queued: running
        context = browser.new_context()
        tab = context.new_page()
        tab.goto(f"{server.url}/studies/{study}")
        tab.wait_for_function("performance.getEntriesByName('study-ready').length > 0")
        assert tab.locator("#live").inner_text().startswith("updated ")
    finally:
        server.stop()
    banner = tab.locator("#error.shown")
    banner.wait_for(timeout=10_000)
    assert "server cannot be reached" in banner.inner_text()
    assert "What you see is from" in banner.inner_text()
    updated = tab.locator("#live").inner_text()
    tab.wait_for_timeout(4_500)  # two more polls fail meanwhile
    assert tab.locator("#live").inner_text() == updated
    context.close()


def test_stalled_trials_are_not_called_diverged(page, site):
    study = site.http.post("/api/v1/studies", json=custom_spec(trials=3)).json()["id"]
    for state, reason in [("aborted", "stalled: loss 2.30 vs initial 2.30 after 3 epochs, "
                                      "val accuracy 10.0% at chance (10.0%)"),
                          ("aborted", "loss nan (non-finite) at epoch 1, step 4"),
                          ("completed", None)]:
        task = site.http.post("/api/v1/trials/claim",
                              json={"worker": "w", "studies": [study]}).json()
        site.http.post(f"/api/v1/trials/{task['id']}/finish", json={
            "lease_token": task["lease_token"], "state": state, "reason": reason,
            "metrics": {"val_accuracy": 0.1 if state == "aborted" else 0.9}}).raise_for_status()
    open_study(page, site, study)
    assert page.locator("#aborted-why").inner_text() == "aborted: 1 diverged, 1 stalled at chance"
    legend = page.locator("#chart-lr .u-legend").inner_text()
    assert "aborted: diverged" in legend and "aborted: stalled at chance" in legend


def test_a_curve_opens_its_trial_and_a_running_trial_shows_its_latest_metrics(page, site, mixed):
    curves = site.http.get(f"/api/v1/studies/{mixed}/curves").json()
    trained = sorted(set(curves["trial_id"]))
    completed, _, running = trained  # finished, pruned, still running (see the fixture)
    open_study(page, site, mixed)
    page.locator("#curves-chart").scroll_into_view_if_needed()
    x, y = page.evaluate("""(acc) => {
      const u = document.getElementById("curves-chart")._chart;
      const box = u.over.getBoundingClientRect();
      return [box.left + u.valToPos(3, "x"), box.top + u.valToPos(acc, "y")];
    }""", 0.2 + 0.1 * 3)  # the completed trial's 3rd epoch (the 4th is on the plot's edge)
    page.mouse.move(x, y)
    assert f"trial {completed} " in page.locator("#curves-chart .tooltip").inner_text()
    page.mouse.click(x, y)
    page.wait_for_url(f"**/trials/{completed}")

    page.goto(f"{site.url}/trials/{running}")
    page.wait_for_function("performance.getEntriesByName('trial-ready').length > 0")
    assert page.locator("#metrics-title").inner_text() == "Latest metrics (epoch 2, running)"
    assert "val_accuracy" in page.locator("#metrics").inner_text()
    settings = page.locator("#settings").inner_text()
    assert "task" in settings and "custom" in settings and "epochs" in settings
