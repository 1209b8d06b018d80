"""The OpenAPI document lists the error answers each operation gives, in the shape sent."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from app.main import API_PREFIX, create_app
from tests.conftest import custom_spec

CONFLICTS = {
    ("post", "/studies/{study_id}/pause"), ("post", "/studies/{study_id}/resume"),
    ("post", "/studies/{study_id}/cancel"), ("post", "/studies/{study_id}/trials"),
    ("post", "/studies/{study_id}/refine"), ("post", "/trials/{trial_id}/heartbeat"),
    ("post", "/trials/{trial_id}/report"), ("post", "/trials/{trial_id}/finish"),
    ("post", "/trials/{trial_id}/release"),
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app().openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in spec["paths"].items()
            for method, op in item.items()]


def test_every_api_operation_documents_its_error_answers(spec):
    api = [(m, p, op) for m, p, op in operations(spec) if p.startswith(API_PREFIX)]
    assert len(api) > 20
    for method, path, op in api:
        codes = set(op["responses"])
        expected = {"401", "403", "503"}
        if "{" in path:
            expected.add("404")
        if "requestBody" in op:
            expected |= {"413", "422"}
        if (method, path.removeprefix(API_PREFIX)) in CONFLICTS:
            expected.add("409")
        assert expected <= codes, (method, path, expected - codes)
        for code in expected - {"422"}:
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorMessage"}


def test_operations_without_a_token_or_a_body_do_not_claim_those_errors(spec):
    health = spec["paths"]["/healthz"]["get"]["responses"]
    assert not {"401", "403", "413"} & set(health)


def conforms(spec: dict[str, Any], path: str, method: str, response: Any) -> None:
    op = spec["paths"][path][method]
    schema = op["responses"][str(response.status_code)]["content"]["application/json"]
    jsonschema.validate(response.json(), {**schema["schema"], "components": spec["components"]})


def test_service_and_schema_errors_match_the_documented_shapes(client):
    spec = client.app.openapi()
    study = client.post("/api/v1/studies", json=custom_spec(trials=1)).json()["id"]
    path = f"{API_PREFIX}/studies/{{study_id}}/trials"
    bad_params = client.post(f"/api/v1/studies/{study}/trials",
                             json={"trials": [{"params": {"x": 5}}]})
    assert bad_params.status_code == 422
    conforms(spec, path, "post", bad_params)
    bad_sort = client.get("/api/v1/leaderboard", params={"sort": "nope"})
    assert bad_sort.status_code == 422
    conforms(spec, f"{API_PREFIX}/leaderboard", "get", bad_sort)
    nul = client.post("/api/v1/studies", json=custom_spec(name="\x00"))
    conforms(spec, f"{API_PREFIX}/studies", "post", nul)
    missing = client.post("/api/v1/studies/999/pause")
    assert missing.status_code == 404
    conforms(spec, f"{API_PREFIX}/studies/{{study_id}}/pause", "post", missing)
    client.post(f"/api/v1/studies/{study}/cancel")
    conflict = client.post(f"/api/v1/studies/{study}/pause")
    assert conflict.status_code == 409
    conforms(spec, f"{API_PREFIX}/studies/{{study_id}}/pause", "post", conflict)
