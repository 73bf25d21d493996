"""A path the gateway serves, asked with a method it does not take: 405 Method Not Allowed
(RFC 9110 §15.5.6) with an `Allow` header listing exactly the methods it takes, as the
gateway's problem+json; on the domain API (versioned and not), the admin API and the other
routes alike. Answered as the 404 of an unknown path is: before authentication, outside the
rate limits and the journal, with one access line and no metric series of its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.api.endpoints import ENDPOINTS
from gateway.api.openapi import openapi_document
from gateway.domain.versions import VERSIONS
from gateway.observability.logging import access_log
from gateway.store.base import Store
from gateway.store.memory import MemoryStore
from tests.configs import write_config
from tests.conftest import AccessLines
from tests.harness import in_process_gateway

CALLER_ID = "wrong-method-7"
PROBLEM = "application/problem+json"
ORDER = "so_2dqqaftr7c6byit76mlioyqxpa"


def _anonymous(app: object) -> httpx.AsyncClient:
    """A caller without any token: a 405, like a 404, is decided before authentication."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://gateway.test",
    )


def _assert_405(response: httpx.Response, allow: str, path: str) -> None:
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "https://gateway.example/problems/method-not-allowed"
    assert problem["title"] == "Method not allowed"
    assert problem["status"] == 405
    assert problem["code"] == "method_not_allowed"
    assert problem["category"] == "not_found"
    assert problem["retryable"] is False
    assert problem["instance"] == path
    assert allow in problem["detail"]
    assert problem["correlation_id"] == response.headers["x-correlation-id"]


async def test_an_order_asked_to_be_deleted_is_405_allowing_get_and_head() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        path = f"/v2/sales-orders/{ORDER}"
        response = await api.delete(path, headers={"X-Correlation-ID": CALLER_ID})
        head = await api.head(path)
    _assert_405(response, "GET, HEAD", path)
    assert head.status_code == 401  # HEAD is served, as Allow says: the pipeline asks a token
    assert response.headers["x-correlation-id"] == CALLER_ID
    assert response.headers["api-version"] == "v2"  # answered in the path's version


async def test_a_collection_taking_get_and_post_lists_both() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        versioned = await api.put("/v1/customers")
        unversioned = await api.put("/customers")
    _assert_405(versioned, "GET, HEAD, POST", "/v1/customers")
    _assert_405(unversioned, "GET, HEAD, POST", "/customers")
    assert "api-version" not in unversioned.headers  # as the 404 of an unversioned path


async def test_a_post_only_path_does_not_list_head() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        cancel = await api.get(f"/sales-orders/{ORDER}/cancel")
        validate = await api.head("/v2/quotes/validate")
    _assert_405(cancel, "POST", f"/sales-orders/{ORDER}/cancel")
    assert validate.status_code == 405 and validate.headers["allow"] == "POST"


async def test_every_domain_path_allows_exactly_the_methods_of_its_operations() -> None:
    taken: dict[str, set[str]] = {}
    for endpoint in ENDPOINTS:
        methods = taken.setdefault(endpoint.path.replace("{id}", ORDER), set())
        methods |= {endpoint.method, "HEAD"} if endpoint.method == "GET" else {endpoint.method}
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        for path, methods in taken.items():
            for prefix in ("", *(f"/{v}" for v in VERSIONS)):
                response = await api.request("PATCH", prefix + path)
                assert response.status_code == 405, (prefix + path, response.text)
                assert response.headers["allow"] == ", ".join(sorted(methods)), prefix + path


async def test_an_admin_path_lists_every_method_of_its_routes() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        # Two routes share this path (a read and a reset): Allow names both.
        report = await api.put("/admin/shadow/report")
        audit = await api.post("/admin/audit")
        reload = await api.get("/admin/config/reload")
    _assert_405(report, "DELETE, GET, HEAD", "/admin/shadow/report")
    _assert_405(audit, "GET, HEAD", "/admin/audit")
    _assert_405(reload, "POST", "/admin/config/reload")


async def test_the_erp_notification_ingress_takes_only_post() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        response = await api.get("/erp-events/legacy")
    _assert_405(response, "POST", "/erp-events/legacy")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("POST", "/metrics"),
        ("PUT", "/openapi/v2.json"),
        ("POST", "/docs"),
        ("POST", "/changelog"),
        ("DELETE", "/ops"),
    ],
)
async def test_the_other_routes_answer_the_gateways_problem_not_starlettes_text(
    method: str, path: str
) -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        response = await api.request(method, path)
    _assert_405(response, "GET, HEAD", path)


async def test_a_path_nothing_serves_is_still_404_and_an_unknown_version_still_400() -> None:
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        unknown = await api.delete("/v2/nothing-here")
        deeper = await api.put(f"/v2/sales-orders/{ORDER}/nothing")
        slash = await api.put("/v2/customers/")
        version = await api.put("/v9/customers")
    for response in (unknown, deeper, slash):
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "not_found"
        assert "allow" not in response.headers
    assert version.status_code == 400
    assert version.json()["code"] == "unsupported_version"


async def test_a_wrong_method_writes_one_access_line_with_405(access_lines: AccessLines) -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        response = await api.delete(
            f"/v2/sales-orders/{ORDER}", headers={"X-Correlation-ID": CALLER_ID}
        )
        assert response.status_code == 405
    access_log.stop()  # written out
    lines = [e for e in access_lines.entries if e.get("correlation_id") == CALLER_ID]
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("DELETE", f"/v2/sales-orders/{ORDER}", 405)
    ]


async def test_a_wrong_method_adds_no_metric_series_as_an_unknown_path_adds_none() -> None:
    async with in_process_gateway(MemoryStore()) as gw, gw.client() as api:
        before = (await api.get("/metrics")).text
        assert (await api.delete(f"/v2/sales-orders/{ORDER}")).status_code == 405
        assert (await api.delete("/v2/nothing-here")).status_code == 404
        after = (await api.get("/metrics")).text
    assert ORDER not in after and "nothing-here" not in after
    assert 'status="405"' not in after
    series = {line.rsplit(" ", 1)[0] for line in after.splitlines() if not line.startswith("#")}
    assert series == {line.rsplit(" ", 1)[0] for line in before.splitlines() if line[:1] != "#"}


RATE_LIMITS = """
tiers:
  standard: {rate_per_s: 2, burst: 5}
backends:
  legacy: {max_rps: 1000, max_in_flight: 3}
  cloud: {max_rps: 1000, max_in_flight: 3}
"""


async def test_wrong_methods_cost_a_client_no_quota_as_unknown_paths_cost_none(
    store: Store, tmp_path: Path
) -> None:
    config_dir = write_config(tmp_path, rate_limits=RATE_LIMITS)
    async with in_process_gateway(store, config_dir) as gw, gw.client() as api:
        wrong = [await api.put("/v1/customers") for _ in range(6)]
        unknown = await api.get("/v1/nothing-here")
        assert [r.status_code for r in wrong] == [405] * 6 and unknown.status_code == 404
        assert "ratelimit" not in wrong[0].headers  # not counted, so no count to tell
        lookups = [
            await api.get("/v1/customers", params={"external_ref": "RL-405"}) for _ in range(5)
        ]
    assert [r.status_code for r in lookups] == [200] * 5  # the whole burst still there
    assert lookups[0].headers["ratelimit"].split(";")[1] == "r=4"


@pytest.mark.parametrize("version", VERSIONS)
async def test_allow_names_the_methods_the_openapi_document_gives_each_path(version: str) -> None:
    document = openapi_document(version)
    async with in_process_gateway(MemoryStore()) as gw, _anonymous(gw.app) as api:
        for template, operations in document["paths"].items():
            path = template.replace("{id}", ORDER)
            documented = {method.upper() for method in operations}
            if "GET" in documented:
                documented.add("HEAD")  # served for every GET, as HTTP asks
            response = await api.request("OPTIONS", path)
            assert response.status_code == 405, (path, response.text)
            assert response.headers["allow"] == ", ".join(sorted(documented)), path
