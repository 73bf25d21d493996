"""The domain API's endpoints found by a dict lookup, ahead of Starlette's router: a path without
parameters by (method, path), one with parameters by (method, number of segments) and a
segment-by-segment compare against a handful of templates.

Starlette's router tries every route's regular expression in turn, through its exception and
error middleware, for every request; the domain API is most of the traffic and all of its
routes are known at start-up. Anything this table does not hold (HEAD, other methods, admin,
docs, health) goes to Starlette as before.

Not the endpoints themselves (see `gateway.api.endpoints`) nor what they do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

Answer = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class _Template:
    order: int  # its place in the table given: where two templates match, the first wins
    names: tuple[str, ...]  # the parameters' names, in order
    answer: Answer


@dataclass(frozen=True)
class _Shape:
    """The templates of one method and number of segments with their parameters at the same
    places, by their literal segments: one dict lookup finds a path's template."""

    literals: tuple[int, ...]  # where the literal segments are
    params: tuple[int, ...]  # where the parameters are
    templates: dict[tuple[str, ...], _Template]


class FastRoutes:
    """(method, path template) -> answer, for templates of literal segments and `{name}`
    parameters (a parameter matches one non-empty segment, as Starlette's `str` convertor)."""

    def __init__(self, routes: Mapping[tuple[str, str], Answer]) -> None:
        self._static: dict[tuple[str, str], Answer] = {}
        self._shapes: dict[tuple[str, int], list[_Shape]] = {}
        for order, ((method, template), answer) in enumerate(routes.items()):
            parts = template.strip("/").split("/")
            params = tuple(i for i, p in enumerate(parts) if p.startswith("{"))
            if not params:
                self._static[(method, template)] = answer
                continue
            literals = tuple(i for i in range(len(parts)) if i not in params)
            shapes = self._shapes.setdefault((method, len(parts)), [])
            shape = next((s for s in shapes if s.params == params), None)
            if shape is None:
                shape = _Shape(literals, params, {})
                shapes.append(shape)
            key = tuple(parts[i] for i in literals)
            names = tuple(parts[i][1:-1] for i in params)
            shape.templates.setdefault(key, _Template(order, names, answer))

    def match(self, method: str, path: str) -> tuple[Answer, dict[str, str]] | None:
        """The answer for this request and its path parameters; None when this table does
        not hold the path (Starlette's router decides then)."""
        answer = self._static.get((method, path))
        if answer is not None:
            return answer, {}
        parts = path[1:].split("/")
        found: _Template | None = None
        values: list[str] = []
        for shape in self._shapes.get((method, len(parts)), ()):
            template = shape.templates.get(tuple([parts[i] for i in shape.literals]))
            if template is None or (found is not None and found.order < template.order):
                continue
            given = [parts[i] for i in shape.params]
            if all(given):
                found, values = template, given
        if found is None:
            return None
        return found.answer, dict(zip(found.names, values, strict=True))
