"""Malformed and oversized requests get a 4xx naming the field, and store nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import custom_spec

STUDIES = "/api/v1/studies"
NUMBER_401_DIGITS = "1" + "0" * 400


def post_raw(client: Any, path: str, text: str) -> Any:
    """POST ``text`` as it is: JSON that json.dumps would not write (NaN, huge numbers)."""
    return client.post(path, content=text.encode("utf-8", "surrogatepass"),
                       headers={"content-type": "application/json"})


def spec_with(raw: str) -> str:
    """``custom_spec()`` as JSON text with ``raw`` JSON (maybe not valid for json.dumps)
    in place of its seed."""
    text = json.dumps(custom_spec())
    assert '"seed": 1' in text
    return text.replace('"seed": 1', raw)


def no_studies(client: Any) -> bool:
    return client.get(STUDIES).json()["total"] == 0


def errors(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    for item in body["detail"]:
        assert {"loc", "msg", "type"} <= set(item)
    return body["detail"]


def running_trial(client: Any, epochs: int = 3) -> dict[str, Any]:
    assert client.post(STUDIES, json=custom_spec(trials=1, epochs=epochs)).status_code == 201
    r = client.post("/api/v1/trials/claim", json={"worker": "w"})
    assert r.status_code == 200, r.text
    return r.json()


def trial(client: Any, task: dict[str, Any]) -> dict[str, Any]:
    return client.get(f"/api/v1/trials/{task['id']}").json()


# --- numbers beyond their columns, and booleans for integers --------------------------


@pytest.mark.parametrize("path", [
    "/api/v1/trials/2147483648",
    "/api/v1/trials/9223372036854775808",
    "/api/v1/trials/-2147483649",
    "/api/v1/studies/2147483648",
    "/api/v1/studies/9223372036854775808/leaderboard",
    "/api/v1/studies?offset=2147483648",
    "/api/v1/leaderboard?offset=9223372036854775808",
    "/api/v1/leaderboard?study=2147483648",
    "/api/v1/leaderboard?limit=9223372036854775808",
    "/api/v1/studies/1/leaderboard?stage=2147483648",
])
def test_integers_beyond_the_columns_are_422(client, path):
    assert client.post(STUDIES, json=custom_spec(trials=1)).status_code == 201
    [error] = errors(client.get(path))
    assert error["loc"][0] in ("path", "query")


def test_trial_ids_beyond_the_column_are_422_on_worker_calls(client):
    body = {"lease_token": "t", "step": 1, "metrics": {}}
    [error] = errors(client.post("/api/v1/trials/2147483648/report", json=body))
    assert error["loc"] == ["path", "trial_id"]
    errors(client.delete("/api/v1/tokens/9223372036854775808"))


@pytest.mark.parametrize("pid", [2**31, 2**63, -1, True])
def test_a_worker_pid_beyond_the_column_is_422_and_not_stored(client, pid):
    body = {"name": "node", "host": "h", "pid": pid, "version": "1"}
    [error] = errors(client.post("/api/v1/workers/register", json=body))
    assert error["loc"] == ["body", "pid"]
    assert client.get("/api/v1/workers").json() == []


def test_claim_for_a_study_id_beyond_the_column_is_422(client):
    running_trial(client)  # nothing else queued: a claim would get 204
    [error] = errors(client.post("/api/v1/trials/claim",
                                 json={"worker": "w", "studies": [2**31]}))
    assert error["loc"] == ["body", "studies", 0]


@pytest.mark.parametrize(("field", "value"), [
    ("seed", True), ("seed", 2**31), ("max_attempts", True),
])
def test_study_integers_refuse_booleans_and_overflow(client, field, value):
    [error] = errors(client.post(STUDIES, json=custom_spec(**{field: value})))
    assert error["loc"] == ["body", field]
    assert no_studies(client)


def test_stage_integers_refuse_booleans(client):
    spec = custom_spec()
    spec["stages"] = [{"trials": True, "epochs": 3}]
    [error] = errors(client.post(STUDIES, json=spec))
    assert error["loc"][:4] == ["body", "stages", 0, "trials"]
    assert no_studies(client)


def test_a_report_step_given_as_boolean_is_422(client):
    task = running_trial(client)
    body = {"lease_token": task["lease_token"], "step": True, "metrics": {}}
    [error] = errors(client.post(f"/api/v1/trials/{task['id']}/report", json=body))
    assert error["loc"] == ["body", "step"]
    assert trial(client, task)["reports"] == []


def test_an_int_search_space_beyond_float_range_is_422(client):
    text = json.dumps(custom_spec()).replace(
        '"x": {"type": "uniform", "low": 0.0, "high": 1.0}',
        f'"x": {{"type": "int", "low": 0, "high": {NUMBER_401_DIGITS}}}')
    assert NUMBER_401_DIGITS in text
    detail = errors(post_raw(client, STUDIES, text))
    assert any(e["loc"][:3] == ["body", "space", "x"] for e in detail), detail
    assert no_studies(client)


@pytest.mark.parametrize("endpoint", ["report", "finish"])
def test_a_metric_beyond_float_range_is_422_and_not_stored(client, endpoint):
    task = running_trial(client)
    state = ', "step": 1' if endpoint == "report" else ', "state": "completed"'
    text = (f'{{"lease_token": "{task["lease_token"]}"{state}, '
            f'"metrics": {{"val_accuracy": {NUMBER_401_DIGITS}}}}}')
    [error] = errors(post_raw(client, f"/api/v1/trials/{task['id']}/{endpoint}", text))
    assert error["loc"] == ["body", "metrics"] and "64 bits" in error["msg"]
    after = trial(client, task)
    assert after["state"] == "running" and after["reports"] == [] and after["metrics"] == {}


# --- values a validation error cannot print -------------------------------------------


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_validation_errors_holding_non_finite_numbers_are_422(client, token):
    detail = errors(post_raw(client, STUDIES, spec_with(f'"seed": {token}')))
    assert detail[0]["loc"] == ["body", "seed"]
    assert no_studies(client)


def test_a_non_finite_early_abort_factor_is_422(client):
    text = spec_with('"early_abort": {"loss_factor": Infinity}')
    detail = errors(post_raw(client, STUDIES, text))
    assert detail[0]["loc"] == ["body", "early_abort", "loss_factor"]
    assert no_studies(client)


def test_a_validation_error_holding_a_lone_surrogate_is_422(client):
    text = spec_with('"objective": {"direction": "\\ud800"}')
    detail = errors(post_raw(client, STUDIES, text))
    assert detail[0]["loc"] == ["body", "objective", "direction"]
    assert no_studies(client)


# --- text no database stores ----------------------------------------------------------


def test_a_nul_in_a_body_field_is_422_naming_it(client):
    [error] = errors(client.post(STUDIES, json=custom_spec(name="a\x00b")))
    assert error["loc"] == ["body", "name"]
    assert no_studies(client)


def test_a_lone_surrogate_in_a_body_field_is_422_naming_it(client):
    text = json.dumps(custom_spec()).replace('"custom-study"', '"bad \\udc80 name"')
    [error] = errors(post_raw(client, STUDIES, text))
    assert error["loc"] == ["body", "name"]
    assert no_studies(client)


def test_a_nul_deep_in_metrics_is_422_naming_it(client):
    task = running_trial(client)
    body = {"lease_token": task["lease_token"], "step": 1,
            "metrics": {"curve": [0.1, {"note\x00": 1}]}}
    [error] = errors(client.post(f"/api/v1/trials/{task['id']}/report", json=body))
    assert error["loc"][:4] == ["body", "metrics", "curve", 1]
    assert trial(client, task)["reports"] == []


def test_an_escaped_backslash_before_u0000_is_ordinary_text(client):
    r = client.post(STUDIES, json=custom_spec(name="C:\\u0000dir"))
    assert r.status_code == 201 and r.json()["name"] == "C:\\u0000dir"


def test_a_paired_surrogate_escape_is_ordinary_text(client):
    text = json.dumps(custom_spec()).replace('"custom-study"', '"smile \\ud83d\\ude00"')
    r = post_raw(client, STUDIES, text)
    assert r.status_code == 201 and r.json()["name"] == "smile \U0001f600"


@pytest.mark.parametrize("query", ["dataset=a%00b", "sort=params.x%00", "state=%00"])
def test_a_nul_in_a_query_parameter_is_422_naming_it(client, query):
    [error] = errors(client.get(f"/api/v1/leaderboard?{query}"))
    assert error["loc"] == ["query", query.split("=")[0]]


# --- payload depth, and trainer settings too large to allocate ------------------------


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("depth", "status"), [(40, 422), (900, 422), (100_000, 400)])
def test_metrics_nested_too_deep_are_refused_and_not_stored(client, depth, status):
    task = running_trial(client)
    metrics = '{"a": ' * depth + "1" + "}" * depth
    text = f'{{"lease_token": "{task["lease_token"]}", "step": 1, "metrics": {metrics}}}'
    r = post_raw(client, f"/api/v1/trials/{task['id']}/report", text)
    assert r.status_code == status, r.text
    if status == 422:
        assert errors(r)[0]["loc"][:2] == ["body", "metrics"]
    assert trial(client, task)["reports"] == []


def test_settings_nested_too_deep_are_422(client):
    spec = custom_spec()
    spec["task"]["settings"] = {"deep": nested(40)}
    detail = errors(client.post(STUDIES, json=spec))
    assert detail[0]["loc"][:3] == ["body", "task", "settings"]
    assert "nested deeper" in detail[0]["msg"]
    assert no_studies(client)


def test_enqueued_params_nested_too_deep_are_422(client):
    study = client.post(STUDIES, json=custom_spec(trials=1)).json()["id"]
    body = {"trials": [{"params": {"x": 0.5, "lr": 1e-3, "extra": nested(40)}}]}
    detail = errors(client.post(f"{STUDIES}/{study}/trials", json=body))
    assert detail[0]["loc"][:5] == ["body", "trials", 0, "params"][:5]
    assert client.get(f"{STUDIES}/{study}").json()["counts"] == {"queued": 1}


def builtin(settings: dict[str, Any], space: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": "big", "task": {"dataset": "digits", "settings": settings},
        "space": space or {"learning_rate": {"type": "log_uniform", "low": 1e-4, "high": 1e-1}},
        "stages": [{"trials": 1, "epochs": 1}],
    }


@pytest.mark.parametrize(("trainer", "space", "name"), [
    ({"num_layers": 1_000_000_000, "hidden_size": 10}, None, "num_layers"),
    ({"hidden_sizes": "1x1000000"}, None, "hidden_sizes"),
    ({"hidden_sizes": [10] * 1000}, None, "hidden_sizes"),
    ({"hidden_size": 10**9}, None, "hidden_size"),
    ({"batch_size": 10**12}, None, "batch_size"),
    ({"activation": "maxout", "maxout_k": 10**6}, None, "maxout_k"),
    ({"hidden_size": 16_384, "num_layers": 8}, None, "weights"),
    ({}, {"num_layers": {"type": "int", "low": 1, "high": 10**9}}, "num_layers"),
])
def test_trainer_settings_too_large_are_422_naming_them(client, trainer, space, name):
    detail = errors(client.post(STUDIES, json=builtin(trainer, space)))
    assert name in detail[0]["msg"], detail
    assert no_studies(client)


# --- report steps bounded by the trial's epochs ---------------------------------------


def test_a_report_beyond_the_trials_epochs_is_refused_and_not_stored(client):
    task = running_trial(client, epochs=3)
    body = {"lease_token": task["lease_token"], "step": 4, "metrics": {"val_accuracy": 0.5}}
    [error] = errors(client.post(f"/api/v1/trials/{task['id']}/report", json=body))
    assert error["loc"] == ["body", "step"] and "3 epochs" in error["msg"]
    after = trial(client, task)
    assert after["steps"] == 0 and after["reports"] == []
    body["step"] = 3
    assert client.post(f"/api/v1/trials/{task['id']}/report", json=body).status_code == 200
    assert trial(client, task)["steps"] == 3


def test_a_report_beyond_epochs_with_a_stale_token_is_still_409(client):
    task = running_trial(client, epochs=3)
    body = {"lease_token": "stale", "step": 99, "metrics": {}}
    assert client.post(f"/api/v1/trials/{task['id']}/report", json=body).status_code == 409


@pytest.mark.parametrize("param", [
    f'{{"type": "choice", "values": [1, {NUMBER_401_DIGITS}]}}',
    f'{{"type": "fixed", "value": {NUMBER_401_DIGITS}}}',
])
def test_choices_beyond_64_bits_are_422(client, param):
    text = json.dumps(custom_spec()).replace(
        '"x": {"type": "uniform", "low": 0.0, "high": 1.0}', f'"x": {param}')
    detail = errors(post_raw(client, STUDIES, text))
    assert any(e["loc"][:3] == ["body", "space", "x"] for e in detail), detail
    assert no_studies(client)
