"""A client of a running gateway's admin API, for the commands that operate one: `migrate`,
`xref export` and `xref import`. It finds an admin token and turns refusals into messages.

Not the endpoints (see `gateway.api.admin`) nor the progress shown (see `gateway.cli`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gateway.config.issues import ConfigError
from gateway.config.loader import load_config
from gateway.demo import ADMIN_CLIENT, DEMO_SECRET_ENV, demo_issuer, mint_token
from gateway.domain.operations import ADMIN_SCOPE
from gateway.pipeline.auth import DEV_DEMO_SECRET

ADMIN_TOKEN_ENV = "GATEWAY_ADMIN_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 30.0


class AdminError(Exception):
    """The gateway could not be reached or refused; the message says what to do."""


def admin_token(env: Mapping[str, str], config_dir: Path) -> tuple[str, str | None]:
    """The token to send, and a note when it was minted from the demo issuer (development:
    only a gateway that trusts that issuer accepts it)."""
    given = env.get(ADMIN_TOKEN_ENV)
    if given:
        return given, None
    try:
        issuer = demo_issuer(load_config(config_dir, env, ()).auth)
    except (ConfigError, LookupError) as exc:  # no config to mint from: say how to give one
        raise AdminError(
            f"set {ADMIN_TOKEN_ENV} to an admin token (scope {ADMIN_SCOPE}); no demo issuer "
            f"to mint one from in {config_dir}: {exc}"
        ) from None
    secret = env.get(DEMO_SECRET_ENV) or DEV_DEMO_SECRET
    token = mint_token(issuer, secret, ADMIN_CLIENT, (ADMIN_SCOPE,), ttl_s=3600)
    return token, f"note: {ADMIN_TOKEN_ENV} unset; using a demo-issuer token for {ADMIN_CLIENT}"


class AdminClient:
    def __init__(self, url: str, token: str) -> None:
        self._url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT_S,
        )

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(
                f"cannot reach the gateway at {self._url} ({exc}); is it running? (--url)"
            ) from None
        if response.status_code >= 400:
            raise AdminError(_refusal(response))
        return response

    def start_migration(self, body: Mapping[str, Any]) -> dict[str, Any]:
        started: dict[str, Any] = self._send("POST", "/admin/migrations", json=dict(body)).json()
        return started

    def migration(self, job_id: str) -> dict[str, Any]:
        job: dict[str, Any] = self._send("GET", f"/admin/migrations/{job_id}").json()
        return job

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        found: dict[str, Any] = self._send(
            "GET", "/admin/events/dead-letters", params={"limit": str(limit)}
        ).json()
        items: list[dict[str, Any]] = found["items"]
        return items

    def replay_dead_letter(self, delivery: str) -> None:
        self._send("POST", f"/admin/events/dead-letters/{quote(delivery, safe='')}/replay")

    def explain_route(self, body: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self._send("POST", "/admin/routes/explain", json=dict(body)).json()
        return found

    def shadow_report(self) -> dict[str, Any]:
        report: dict[str, Any] = self._send("GET", "/admin/shadow/report").json()
        return report

    def export_xref(self, legal_entity: str | None) -> Iterator[bytes]:
        params = {"legal_entity": legal_entity} if legal_entity else {}
        return self._stream("/admin/xref/export", params)

    def export_audit(self) -> Iterator[bytes]:
        return self._stream("/admin/audit", {})

    def _stream(self, path: str, params: Mapping[str, str]) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise AdminError(_refusal(response))
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the gateway at {self._url} ({exc})") from None

    def import_xref(self, text: str, *, dry_run: bool, first_line: int) -> dict[str, Any]:
        response = self._send(
            "POST",
            "/admin/xref/import",
            content=text.encode("utf-8"),
            params={"dry_run": str(dry_run).lower(), "first_line": str(first_line)},
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )
        report: dict[str, Any] = response.json()
        return report


def _refusal(response: httpx.Response) -> str:
    """A refusal in one line: the problem's detail, and its field errors where they add to it."""
    try:
        problem = response.json()
        detail = str(problem.get("detail") or problem.get("title"))
        errors = problem.get("errors") or []
    except ValueError:
        detail, errors = response.text[:200], []
    notes = [str(e.get("detail")) for e in errors if isinstance(e, dict)]
    more = "; ".join(n for n in notes if n not in detail)
    hint = f" (set {ADMIN_TOKEN_ENV})" if response.status_code in (401, 403) else ""
    return (
        f"the gateway answered {response.status_code}: {detail}{f' ({more})' if more else ''}{hint}"
    )
