"""Which methods each path of the app takes, over all its routes: the `Allow` of a 405, and
of the answer to `OPTIONS *` (the server as a whole).

Not routing (Starlette's router, `gateway.api.dispatch`): asked only once a request has found
no route for its method, so a request that has one never pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import BaseRoute, Route


class AllowedMethods:
    """Path -> the methods some route takes it with, built once from the app's routes: a dict
    for paths without parameters, the routes' own compiled patterns for the others. Several
    routes may share a path (one per method, as the domain API's and the shadow report's);
    their methods add up. HEAD is listed where Starlette serves it: on every GET route.
    `anywhere`: the `Allow` of the server as a whole, the methods some path takes and OPTIONS,
    which it takes for `*`."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        static: dict[str, set[str]] = {}
        patterns: list[tuple[re.Pattern[str], frozenset[str]]] = []
        for route in routes:
            # A route of no methods takes every one: its path is never answered 405.
            if not isinstance(route, Route) or route.methods is None:
                continue
            if route.param_convertors:
                patterns.append((route.path_regex, frozenset(route.methods)))
            else:
                static.setdefault(route.path, set()).update(route.methods)
        self._static = {path: frozenset(methods) for path, methods in static.items()}
        self._patterns = tuple(patterns)
        self.anywhere = ", ".join(
            sorted({"OPTIONS"}.union(*static.values(), *(taken for _, taken in patterns)))
        )

    def of(self, path: str) -> list[str]:
        """The methods `path` is taken with, sorted; none when no route has this path."""
        methods = set(self._static.get(path, ()))
        for pattern, taken in self._patterns:
            if pattern.match(path):
                methods |= taken
        return sorted(methods)
