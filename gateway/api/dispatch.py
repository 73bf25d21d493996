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
    segments: tuple[str | None, ...]  # a literal, or None where a parameter goes
    names: tuple[str, ...]  # the parameters' names, in order
    answer: Answer


class FastRoutes:
    """(method, path template) -> answer, for templates of literal segments and `{name}`
    parameters (a parameter matches one non-empty segment, as Starlette's `str` convertor)."""

    def __init__(self, routes: Mapping[tuple[str, str], Answer]) -> None:
        self._static: dict[tuple[str, str], Answer] = {}
        self._templates: dict[tuple[str, int], list[_Template]] = {}
        for (method, template), answer in routes.items():
            parts = tuple(template.strip("/").split("/"))
            if not any(p.startswith("{") for p in parts):
                self._static[(method, template)] = answer
                continue
            segments = tuple(None if p.startswith("{") else p for p in parts)
            names = tuple(p[1:-1] for p in parts if p.startswith("{"))
            key = (method, len(parts))
            self._templates.setdefault(key, []).append(_Template(segments, names, answer))

    def match(self, method: str, path: str) -> tuple[Answer, dict[str, str]] | None:
        """The answer for this request and its path parameters; None when this table does
        not hold the path (Starlette's router decides then)."""
        answer = self._static.get((method, path))
        if answer is not None:
            return answer, {}
        parts = path[1:].split("/")
        for template in self._templates.get((method, len(parts)), ()):
            values = []
            for expected, actual in zip(template.segments, parts, strict=True):
                if expected is None:
                    if not actual:
                        break
                    values.append(actual)
                elif expected != actual:
                    break
            else:
                return template.answer, dict(zip(template.names, values, strict=True))
        return None
