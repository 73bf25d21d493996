"""The domain API's route table (`gateway.api.dispatch.FastRoutes`) finds what Starlette's
router would find for the same templates, in the same order: the same endpoint and path
parameters for every path of the API, and nothing for a path no template takes (which then
goes on to Starlette's router)."""

from __future__ import annotations

from starlette.routing import Match, Route

from gateway.api.dispatch import Answer, FastRoutes
from gateway.app import operation_answers

ANSWERS = operation_answers()
VALUES = ["so_2dqqaftr7c6byit76mlioyqxpa", "x", "a.b", "%2F", "v1"]


def _starlette(method: str, path: str) -> tuple[Answer, dict[str, str]] | None:
    """The first template, in the table's order, whose Starlette route takes the request."""
    for (route_method, template), answer in ANSWERS.items():
        if route_method != method:
            continue
        route = Route(template, answer, methods=[method])
        match, child = route.matches({"type": "http", "method": method, "path": path})
        if match is Match.FULL:
            return answer, dict(child["path_params"])
    return None


def _requests() -> list[tuple[str, str]]:
    """Every template with its parameters filled in, by each method, and as broken: a
    parameter left empty, a segment more or less, a trailing slash, another version."""
    requests = set()
    for _, template in ANSWERS:
        segments = template.split("/")
        paths = {"/".join("" if s.startswith("{") else s for s in segments)}
        for value in VALUES:
            filled = "/".join(value if s.startswith("{") else s for s in segments)
            paths |= {filled, filled + "/", filled + "/more", filled.rsplit("/", 1)[0]}
            paths |= {filled.replace("/v2/", "/v3/"), filled.replace("/v1/", "/")}
        requests |= {(method, path) for method in ("GET", "POST", "PUT") for path in paths}
    return sorted(requests)


def test_the_table_holds_templates_of_several_shapes() -> None:
    shapes = {
        (method, tuple(p.startswith("{") for p in template.strip("/").split("/")))
        for method, template in ANSWERS
    }
    assert len(shapes) >= 5  # else the comparison below proves little


def test_every_path_finds_what_starlettes_router_finds() -> None:
    table = FastRoutes(ANSWERS)
    requests = _requests()
    differ = [
        (method, path)
        for method, path in requests
        if table.match(method, path) != _starlette(method, path)
    ]
    assert len(requests) > 1000 and not differ, differ


def test_where_two_templates_take_a_path_the_first_wins() -> None:
    async def first(_: object) -> object: ...

    async def second(_: object) -> object: ...

    routes: dict[tuple[str, str], Answer] = {
        ("GET", "/{a}/orders/{b}"): first,  # type: ignore[dict-item]
        ("GET", "/v2/{c}/{d}"): second,  # type: ignore[dict-item]
    }
    for order in (routes, dict(reversed(list(routes.items())))):
        winner = next(iter(order.values()))
        assert FastRoutes(order).match("GET", "/v2/orders/7") == (
            winner,
            {"a": "v2", "b": "7"} if winner is first else {"c": "orders", "d": "7"},
        )
