"""A client of a running gateway's admin API, for the commands that operate one: `migrate`,
`xref export` and `xref import`. It finds an admin token and turns refusals into messages.

Not the endpoints (see `gateway.api.admin`) nor the progress shown (see `gateway.cli`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gateway.config.issues import ConfigError
from gateway.domain.events import MAX_DEAD_LETTERS
from gateway.domain.operations import ADMIN_SCOPE

# The configuration's, the demo issuer's and the audit store's modules are imported
# where they are used, not here: each admin command would otherwise load most of the gateway
# (seconds on a busy host) to send a request or two.

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
        if not all("!" <= c <= "~" for c in given):
            # No header carries it as sent (httpx fails before or after the connection).
            raise AdminError(
                f"{ADMIN_TOKEN_ENV} holds a space, a line break or a character outside ASCII, "
                "which no token has; set it to the token alone (as `gateway token` prints it)"
            )
        return given, None
    from gateway.config.loader import load_config
    from gateway.demo import ADMIN_CLIENT, DEMO_SECRET_ENV, demo_issuer, mint_token
    from gateway.pipeline.auth import DEV_DEMO_SECRET

    try:
        issuer = demo_issuer(load_config(config_dir, env, ()).auth)
    except (ConfigError, LookupError) as exc:  # no config to mint from: say how to give one
        raise AdminError(
            f"set {ADMIN_TOKEN_ENV} to an admin token (scope {ADMIN_SCOPE}); no demo issuer "
            f"to mint one from in {config_dir}: {exc}"
        ) from None
    secret = env.get(DEMO_SECRET_ENV) or DEV_DEMO_SECRET
    # An hour, or the issuer's shorter cap: a longer one is refused 401 by the gateway.
    token = mint_token(issuer, secret, ADMIN_CLIENT, (ADMIN_SCOPE,))
    return token, f"note: {ADMIN_TOKEN_ENV} unset; using a demo-issuer token for {ADMIN_CLIENT}"


class AdminClient:
    def __init__(self, url: str, token: str) -> None:
        self._url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=_gateway_url(self._url),
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
        _check(response, self._url)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The admin API's JSON object answering the request; anything else is an AdminError
        (a web page, a proxy's error, a redirect: --url is not the gateway)."""
        response = self._send(method, path, **kwargs)
        try:
            found = response.json() if _media_type(response) == _JSON else None
        except ValueError:
            found = None
        if not isinstance(found, dict):
            raise AdminError(_not_the_api(response, self._url))
        return found

    def start_migration(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/admin/migrations", json=dict(body))

    def migration(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/admin/migrations/{job_id}")

    def dead_letters(
        self, most: int | None = None, subscription: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The dead letters (all, or `subscription`'s), oldest first, page after page: `most`
        of them, or every one."""
        params = {"limit": str(MAX_DEAD_LETTERS if most is None else min(most, MAX_DEAD_LETTERS))}
        if subscription is not None:
            params["subscription"] = subscription
        listed = 0
        while most is None or listed < most:
            found = self._json("GET", "/admin/events/dead-letters", params=params)
            items, cursor = found.get("items"), found.get("next_cursor")
            if not isinstance(items, list) or not isinstance(cursor, str | None):
                raise AdminError(f"the gateway at {self._url} answered without a page of items")
            for item in items[: None if most is None else most - listed]:
                listed += 1
                yield item
            if cursor is None:
                return
            params["cursor"] = cursor

    def replay_dead_letter(self, delivery: str) -> None:
        self._send("POST", f"/admin/events/dead-letters/{quote(delivery, safe='')}/replay")

    def subscriptions(self) -> list[dict[str, Any]]:
        """The webhook subscriptions, each enabled or disabled (and since when, why)."""
        items = self._json("GET", "/admin/events/subscriptions").get("items")
        if not isinstance(items, list):
            raise AdminError(f"the gateway at {self._url} answered without a list of items")
        return [item for item in items if isinstance(item, dict)]

    def enable_subscription(self, subscription: str) -> None:
        self._send("POST", f"/admin/events/subscriptions/{quote(subscription, safe='')}/enable")

    def explain_route(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._json("POST", "/admin/routes/explain", json=dict(body))

    def shadow_report(self) -> dict[str, Any]:
        return self._json("GET", "/admin/shadow/report")

    def export_xref(self, legal_entity: str | None) -> Iterator[bytes]:
        params = {"legal_entity": legal_entity} if legal_entity else {}
        return self._stream("/admin/xref/export", params, "text/csv")

    def export_audit(self, began: Callable[[str | None], None]) -> Iterator[bytes]:
        """The whole trail; `began` is told the store's head the gateway read first (its
        AUDIT_HEAD_HEADER, None from a gateway that does not say it), before any line."""
        from gateway.store.audit import AUDIT_HEAD_HEADER

        def said(headers: httpx.Headers) -> None:
            try:
                began(headers.get(AUDIT_HEAD_HEADER))
            except ValueError:
                raise AdminError(
                    f"the gateway at {self._url} answered with an {AUDIT_HEAD_HEADER} that is "
                    "no audit head"
                ) from None

        return self._stream("/admin/audit", {}, "application/jsonl", said)

    def _stream(
        self,
        path: str,
        params: Mapping[str, str],
        media_type: str,
        answered: Callable[[httpx.Headers], None] | None = None,
    ) -> Iterator[bytes]:
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 300 or _media_type(response) != media_type:
                    response.read()
                    _check(response, self._url)
                    raise AdminError(_not_the_api(response, self._url))
                if answered is not None:
                    answered(response.headers)
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the gateway at {self._url} ({exc})") from None

    def import_xref(self, text: str, *, dry_run: bool, first_line: int) -> dict[str, Any]:
        return self._json(
            "POST",
            "/admin/xref/import",
            content=text.encode("utf-8"),
            params={"dry_run": str(dry_run).lower(), "first_line": str(first_line)},
            headers={"Content-Type": "text/csv; charset=utf-8"},
        )


_JSON = "application/json"
_PROBLEM = "application/problem+json"


def _gateway_url(url: str) -> httpx.URL:
    """`url` as an address of the gateway; an AdminError saying how to write one otherwise."""
    problem = url_problem(url)
    if problem is not None:
        raise AdminError(f"--url {problem}")
    return httpx.URL(url)


def url_problem(url: str) -> str | None:
    """What keeps `url` from being a gateway's address (one httpx cannot parse was its
    InvalidURL, not an HTTPError; another scheme, a failed request), and how to write one;
    None when it can be one."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"{url!r} is not a URL ({exc}); give e.g. {DEFAULT_URL}"
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"{url!r} is not an http:// or https:// URL; give e.g. {DEFAULT_URL}"
    return None


def url_argument(value: str) -> str:
    """`--url` as a command reads it: one that cannot be a gateway's address is a bad argument
    (argparse's two lines, exit 2), as a port past 65535 is, not a failure of the command."""
    problem = url_problem(value)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return value


def _media_type(response: httpx.Response) -> str:
    declared: str = response.headers.get("content-type", "")
    return declared.partition(";")[0].strip().lower()


def _check(response: httpx.Response, url: str) -> None:
    """AdminError for a refusal, or for a redirect (httpx follows none: the admin API never
    redirects, a web server or a plain-HTTP listener in front of HTTPS does)."""
    if response.status_code >= 400:
        problem = _problem(response)
        raise AdminError(
            _refusal(response.status_code, problem) if problem else _not_the_api(response, url)
        )
    if response.status_code >= 300:
        raise AdminError(
            f"{url} answered {response.status_code}, redirecting to "
            f"{response.headers.get('location', 'nowhere')}: not the gateway's admin API "
            "(give --url the address the gateway listens on)"
        )


_PROXY_ERRORS = (502, 503, 504)


def _not_the_api(response: httpx.Response, url: str) -> str:
    """What answered instead of the admin API, in one line: never its body (another web
    server's page, a proxy's), which says nothing the operator can act on."""
    what = _media_type(response) or "no content type"
    status = response.status_code
    check = (
        "is the gateway behind it running, and is --url the gateway?"
        if status in _PROXY_ERRORS
        else "is --url the gateway?"
    )
    return (
        f"{url} answered {status} for {response.request.url.path} with {what}, not the "
        f"gateway's admin API: {check}"
    )


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    """The gateway's problem (RFC 9457) the response carries, None for any other answer (a
    web page, another API's JSON)."""
    if _media_type(response) not in (_JSON, _PROBLEM):
        return None
    try:
        found = response.json()
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    if not any(isinstance(found.get(key), str) for key in ("detail", "title")):
        return None
    return found


def _refusal(status: int, problem: Mapping[str, Any]) -> str:
    """The gateway's refusal in one line: the problem's detail, and its field errors where
    they add to it."""
    detail = str(problem.get("detail") or problem.get("title"))
    errors = problem.get("errors")
    listed = errors if isinstance(errors, list) else []
    notes = [str(e.get("detail")) for e in listed if isinstance(e, dict)]
    more = "; ".join(n for n in notes if n not in detail)
    hint = f" (set {ADMIN_TOKEN_ENV})" if status in (401, 403) else ""
    return f"the gateway answered {status}: {detail}{f' ({more})' if more else ''}{hint}"
