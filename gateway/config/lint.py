"""Cross-file checks of a configuration, reported as issues at a file and line: every name one
file uses that another must define.

Not parsing or per-file schema validation (see `loader.py`): each file here is already valid.
Not what the routing rules decide (see `gateway.routing.lint`, which reports on outcomes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit

from gateway.config.api_versions import ApiVersionsPolicy
from gateway.config.auth import AuthPolicy
from gateway.config.backends import (
    SAP_KIND,
    BackendConfig,
    NetSuiteClientCredentials,
    SapBackend,
    key_file_login,
    production_by_kind,
)
from gateway.config.clients import ClientsPolicy
from gateway.config.events import SubscriptionsPolicy
from gateway.config.issues import (
    AUTH_FILE,
    BACKENDS_DIR,
    CLIENTS_FILE,
    OPERATIONS_FILE,
    RATE_LIMITS_FILE,
    ROUTES_FILE,
    SUBSCRIPTIONS_FILE,
    ConfigIssue,
)
from gateway.config.operations import OperationsPolicy
from gateway.config.private_keys import backend_key_file
from gateway.config.public_keys import public_key_in
from gateway.config.rate_limits import RateLimitPolicy
from gateway.config.routes import RouteRule, RoutesConfig
from gateway.config.webhook_secrets import signing_key
from gateway.config.yamlfile import YamlDocument, YamlPath, YamlSyntaxError, parse_yaml
from gateway.domain.events import EVENT_TYPES
from gateway.domain.listing import known, some_of
from gateway.domain.operations import (
    ALL_OPERATIONS,
    FREEZABLE,
    KNOWN_SCOPES,
    SHADOW_WRITES,
    SHADOWABLE,
    operations_matching,
)

# The advice of each warning of plain http to another host (see `_remote_over_plain_http`).
_USE_HTTPS = "use https (plain http only to a loopback address)"


@dataclass(frozen=True)
class ParsedConfig:
    """What parsed and validated file by file; `None` (or a missing backend) where it did not."""

    config_dir: Path
    documents: Mapping[str, YamlDocument]  # by file, relative to the config directory
    routes: RoutesConfig | None
    backend_names: frozenset[str]  # every backends/<name>.yaml present, valid or not
    backends: Mapping[str, BackendConfig]  # the valid ones
    auth: AuthPolicy | None
    clients: ClientsPolicy | None
    rate_limits: RateLimitPolicy | None
    subscriptions: SubscriptionsPolicy | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # the environment it was loaded with
    # policies/operations.yaml's, its defaults where there is none; None where it did not parse.
    operations: OperationsPolicy | None = None


def backend_file(name: str) -> str:
    return f"{BACKENDS_DIR}/{name}.yaml"


class Reporter:
    """Builds issues whose line is looked up in the file's parsed document."""

    def __init__(self, documents: Mapping[str, YamlDocument]) -> None:
        self._documents = documents
        self.issues: list[ConfigIssue] = []

    def line(self, file: str, path: Sequence[str | int]) -> int | None:
        document = self._documents.get(file)
        return document.line_of(path) if document is not None else None

    def error(self, file: str, path: Sequence[str | int], message: str) -> None:
        self.issues.append(ConfigIssue(file, self.line(file, path), message))

    def warning(self, file: str, path: Sequence[str | int], message: str) -> None:
        self.issues.append(ConfigIssue(file, self.line(file, path), message, "warning"))

    def read(self, file: str) -> bool:
        """Whether `file` was read (an optional one may be absent)."""
        return file in self._documents

    def written(self, file: str, path: Sequence[str | int]) -> bool:
        """Whether `file` sets `path` itself, rather than leaving it to its default."""
        document = self._documents.get(file)
        return document is not None and tuple(path) in document.lines


def issue_at(config_dir: Path, file: str, path: YamlPath, message: str) -> ConfigIssue:
    """An error found after the files were loaded (a key file they name, read again as the
    runtime is built), at the line of `path` in `file` as it reads now, as the checks name
    theirs; without a line when the file no longer reads."""
    return ConfigIssue(file, line_at(config_dir, file, path), message)


def line_at(config_dir: Path, file: str, path: YamlPath) -> int | None:
    """The line of `path` in `file` as it reads now; None when the file no longer reads."""
    try:
        document = parse_yaml((config_dir / file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YamlSyntaxError):
        return None
    return document.line_of(path)


def issuer_key_file_at(index: int) -> YamlPath:
    """Where policies/auth.yaml names the public key file of its `index`th issuer."""
    return ("issuers", index, "public_key_file")


def issuer_cap_at(index: int) -> YamlPath:
    """Where policies/auth.yaml sets the token lifetime cap of its `index`th issuer."""
    return ("issuers", index, "max_lifetime_s")


def cross_file_issues(parsed: ParsedConfig) -> list[ConfigIssue]:
    """Every reference from one file to another that does not resolve, and likely mistakes."""
    report = Reporter(parsed.documents)
    if parsed.routes is not None:
        _check_routes(report, parsed.routes, parsed.backend_names)
        _check_freezes(report, parsed.routes)
        _check_shadows(report, parsed.routes, parsed.backend_names, parsed.backends)
    if parsed.clients is not None:
        _check_clients(report, parsed.clients, parsed.routes, parsed.rate_limits)
        if parsed.auth is not None:
            _check_client_issuers(report, parsed.clients, parsed.auth)
    _check_systems(report, parsed.backends, parsed.backend_names)
    _check_erp_transports(report, parsed.backends)
    if parsed.operations is not None:
        _check_erp_timeouts(report, parsed.backends, parsed.operations)
    _check_signing_keys(report, parsed.backends, parsed.config_dir)
    if parsed.rate_limits is not None:
        _check_budgets(report, parsed.rate_limits, parsed.backend_names)
    if parsed.auth is not None:
        _check_issuers(report, parsed.auth, parsed.config_dir)
    return report.issues


def _check_routes(report: Reporter, routes: RoutesConfig, backends: frozenset[str]) -> None:
    if routes.default_backend not in backends:
        report.error(
            ROUTES_FILE,
            ["default_backend"],
            f"unknown backend {routes.default_backend!r} {known(backends)}",
        )
    first_line_of: dict[str, int | None] = {}
    regions = {le.region for le in routes.legal_entities.values()}
    for i, rule in enumerate(routes.rules):
        at: YamlPath = ("rules", i)
        if rule.id in first_line_of:
            report.error(
                ROUTES_FILE,
                [*at, "id"],
                f"duplicate rule id {rule.id!r} (first at line {first_line_of[rule.id]})",
            )
        else:
            first_line_of[rule.id] = report.line(ROUTES_FILE, [*at, "id"])
        if rule.backend is not None and rule.backend not in backends:
            report.error(
                ROUTES_FILE,
                [*at, "backend"],
                f"unknown backend {rule.backend!r} {known(backends)}",
            )
        for backend in rule.split or {}:
            if backend not in backends:
                report.error(
                    ROUTES_FILE,
                    [*at, "split", backend],
                    f"unknown backend {backend!r} in the split {known(backends)}",
                )
        match = rule.match
        for j, glob in enumerate(match.operations or []):
            if not _glob_matches_any(glob):
                report.error(
                    ROUTES_FILE,
                    [*at, "match", "operations", j],
                    f"operation pattern {glob!r} matches no operation {known(ALL_OPERATIONS)}",
                )
        for j, region in enumerate(match.regions or []):
            if region not in regions:
                report.error(
                    ROUTES_FILE,
                    [*at, "match", "regions", j],
                    f"unknown region {region!r} (regions of the legal entities: "
                    f"{some_of(regions)})",
                )
        for j, code in enumerate(match.legal_entities or []):
            if code not in routes.legal_entities:
                report.error(
                    ROUTES_FILE,
                    [*at, "match", "legal_entities", j],
                    f"unknown legal entity {code!r} {known(routes.legal_entities)}",
                )


def _check_freezes(report: Reporter, routes: RoutesConfig) -> None:
    first_line_of: dict[str, int | None] = {}
    for i, freeze in enumerate(routes.freezes):
        at: YamlPath = ("freezes", i)
        if freeze.id in first_line_of:
            report.error(
                ROUTES_FILE,
                [*at, "id"],
                f"duplicate freeze id {freeze.id!r} (first at line {first_line_of[freeze.id]})",
            )
        else:
            first_line_of[freeze.id] = report.line(ROUTES_FILE, [*at, "id"])
        for j, glob in enumerate(freeze.operations or []):
            if not _glob_matches_any(glob):
                report.error(
                    ROUTES_FILE,
                    [*at, "operations", j],
                    f"operation pattern {glob!r} matches no operation {known(ALL_OPERATIONS)}",
                )
            reads = sorted(operations_matching((glob,)) - FREEZABLE)
            if reads:
                report.warning(
                    ROUTES_FILE,
                    [*at, "operations", j],
                    f"freeze {freeze.id}: {glob!r} matches {', '.join(reads)}, which it does "
                    "not freeze: reads are never frozen",
                )
        for j, code in enumerate(freeze.legal_entities):
            if code not in routes.legal_entities:
                report.error(
                    ROUTES_FILE,
                    [*at, "legal_entities", j],
                    f"unknown legal entity {code!r} {known(routes.legal_entities)}",
                )


def _check_shadows(
    report: Reporter,
    routes: RoutesConfig,
    names: frozenset[str],
    backends: Mapping[str, BackendConfig],
) -> None:
    for i, rule in enumerate(routes.rules):
        if rule.shadow is not None:
            _check_shadow(report, ("rules", i, "shadow"), rule, names, backends)


def _check_shadow(
    report: Reporter,
    at: YamlPath,
    rule: RouteRule,
    names: frozenset[str],
    backends: Mapping[str, BackendConfig],
) -> None:
    shadow = rule.shadow
    assert shadow is not None
    target = shadow.backend
    if target not in names:
        report.error(ROUTES_FILE, [*at, "backend"], f"unknown backend {target!r} {known(names)}")
    elif rule.backend == target:
        report.error(
            ROUTES_FILE,
            [*at, "backend"],
            f"rule {rule.id} already sends its requests to {target}: a shadow compares two "
            "backends (name the other ERP)",
        )
    config = backends.get(target)
    shadowed = operations_matching(shadow.operations) & SHADOWABLE
    if shadowed and not shadowed & operations_matching(rule.match.operations):
        report.warning(
            ROUTES_FILE,
            [*at, "operations"],
            f"rule {rule.id} matches none of the operations its shadow names: nothing is shadowed",
        )
    for j, glob in enumerate(shadow.operations):
        ops = operations_matching((glob,))
        if not ops:
            report.error(
                ROUTES_FILE,
                [*at, "operations", j],
                f"operation pattern {glob!r} matches no operation {known(ALL_OPERATIONS)}",
            )
        for op in sorted(ops - SHADOWABLE):
            report.error(
                ROUTES_FILE,
                [*at, "operations", j],
                f"{op} cannot be shadowed: it has no side-effect-free path or its records live "
                f"in one ERP only {known(SHADOWABLE)}",
            )
        writes = ops & SHADOW_WRITES
        if writes and config is not None and not config.sandbox and config.kind != SAP_KIND:
            report.error(
                ROUTES_FILE,
                [*at, "operations", j],
                f"would shadow {', '.join(sorted(writes))} into production backend {target}: "
                f"only the legacy ERP's sales-order simulation or a backend marked "
                f"`sandbox: true` in {backend_file(target)} is free of side effects",
            )


def _check_systems(
    report: Reporter, backends: Mapping[str, BackendConfig], names: frozenset[str]
) -> None:
    """A backend's `system` names another backend, one that reaches its own ERP; a sandbox
    whose kind several production backends share must say which one it belongs to."""
    production = production_by_kind(backends)
    for name, backend in sorted(backends.items()):
        file, system = backend_file(name), backend.system
        if system is not None:
            named = backends.get(system)
            if system not in names:
                report.error(file, ["system"], f"unknown backend {system!r} {known(names)}")
            elif named is not None and named.system not in (None, system):
                report.error(
                    file,
                    ["system"],
                    f"{system} reaches the ERP of {named.system}: name {named.system} itself",
                )
        elif backend.sandbox and len(production.get(backend.kind, ())) > 1:
            candidates = ", ".join(sorted(production[backend.kind]))
            report.error(
                file,
                ["sandbox"],
                f"a sandbox of kind {backend.kind}, which {candidates} all are: name the "
                "production backend it belongs to with `system:`, or shadow compares may "
                "compare that ERP with its own sandbox",
            )


def _check_signing_keys(
    report: Reporter, backends: Mapping[str, BackendConfig], config_dir: Path
) -> None:
    """A key file a backend signs with that holds no key for its algorithm: read again on each
    reload (a rotated key is the same name, a new file), refused at the line that names it."""
    for name, backend in sorted(backends.items()):
        login = key_file_login(backend)
        if login is None:
            continue
        try:
            backend_key_file(name, str(login.private_key_file), login.algorithm, config_dir)
        except ValueError as exc:
            report.error(backend_file(name), ["auth", "private_key_file"], str(exc))


def _check_erp_transports(report: Reporter, backends: Mapping[str, BackendConfig]) -> None:
    """An ERP reached over plain http on another host: the gateway's login and every order go
    over the wire in the clear."""
    for name, backend in sorted(backends.items()):
        host = _remote_over_plain_http(backend.base_url)
        if host is not None:
            report.warning(
                backend_file(name),
                ["base_url"],
                f"backend {name} sends {_erp_login(backend)} and the orders over plain http to "
                f"{host}: anyone on the way can read them and act as the gateway in the ERP; "
                f"{_USE_HTTPS}",
            )


def _check_erp_timeouts(
    report: Reporter, backends: Mapping[str, BackendConfig], operations: OperationsPolicy
) -> None:
    """A backend whose `timeout_s` is not below the request timeout: an ERP is called after its
    request arrived, so the request's deadline always ends the interaction first. It loads and
    runs, but the timeout an architect set never fires, and the ERP and its retries get less
    than it says."""
    limit = operations.requests.timeout_s
    request_timeout = _request_timeout(report, limit)
    for name, backend in sorted(backends.items()):
        if backend.timeout_s < limit:
            continue
        file = backend_file(name)
        default = "" if report.written(file, ["timeout_s"]) else " by default"
        report.warning(
            file,
            ["timeout_s"],
            f"backend {name}'s timeout_s ({backend.timeout_s:g} s{default}) is not below the "
            f"request timeout ({request_timeout}): the request's deadline always comes first, "
            "so this timeout never fires and the ERP, its retries included, gets only what is "
            f"left of the request's {limit:g} s; lower timeout_s below {limit:g} s, leaving "
            "time for the gateway's own steps, or raise requests.timeout_s above "
            f"{backend.timeout_s:g} s",
        )


def _request_timeout(report: Reporter, seconds: float) -> str:
    """The request timeout as an operator finds it: where policies/operations.yaml sets it, or
    why its default applies."""
    at = ("requests", "timeout_s")
    if report.written(OPERATIONS_FILE, at):
        line = report.line(OPERATIONS_FILE, at)
        return f"requests.timeout_s: {seconds:g} at {OPERATIONS_FILE}:{line}"
    if report.read(OPERATIONS_FILE):
        return f"{seconds:g} s by default: {OPERATIONS_FILE} sets no requests.timeout_s"
    return f"{seconds:g} s by default: there is no {OPERATIONS_FILE}"


def _erp_login(backend: BackendConfig) -> str:
    """What of the gateway's login to `backend` goes with its requests."""
    if isinstance(backend, SapBackend):
        return "its SAP user and password (Basic auth)"
    if isinstance(backend.auth, NetSuiteClientCredentials):
        return "its access tokens (and the client assertions that get them)"
    return "its signed requests (their JSON bodies unsigned)"  # OAuth 1.0a signs no JSON body


def _glob_matches_any(glob: str) -> bool:
    return bool(operations_matching((glob,)))


def _check_clients(
    report: Reporter,
    clients: ClientsPolicy,
    routes: RoutesConfig | None,
    rate_limits: RateLimitPolicy | None,
) -> None:
    seen: set[str] = set()
    for i, client in enumerate(clients.clients):
        at: YamlPath = ("clients", i)
        if client.id in seen:
            report.error(CLIENTS_FILE, [*at, "id"], f"duplicate client id {client.id!r}")
        seen.add(client.id)
        if rate_limits is not None and client.rate_limit not in rate_limits.tiers:
            report.error(
                CLIENTS_FILE,
                [*at, "rate_limit"],
                f"unknown rate-limit tier {client.rate_limit!r} {known(rate_limits.tiers)}",
            )
        if client.legal_entities == []:
            report.warning(
                CLIENTS_FILE,
                [*at, "legal_entities"],
                f"client {client.id} may act for no legal entity: every request it makes is "
                'refused (403); list the ones it acts for, or "*" for all',
            )
        if routes is not None and client.legal_entities != "*":
            for j, code in enumerate(client.legal_entities):
                if code not in routes.legal_entities:
                    report.error(
                        CLIENTS_FILE,
                        [*at, "legal_entities", j],
                        f"unknown legal entity {code!r} {known(routes.legal_entities)}",
                    )
        for j, scope in enumerate(client.scopes):
            if scope not in KNOWN_SCOPES:
                report.warning(
                    CLIENTS_FILE,
                    [*at, "scopes", j],
                    f"scope {scope!r} grants nothing {known(KNOWN_SCOPES)}",
                )


def _check_client_issuers(report: Reporter, clients: ClientsPolicy, auth: AuthPolicy) -> None:
    """Each client's `issuer` is one auth.yaml trusts; with several trusted, each names one: an
    issuer's tokens must not speak for a client another issuer's users were given."""
    names = [i.name for i in auth.issuers]
    for i, client in enumerate(clients.clients):
        if client.issuer is not None:
            if client.issuer not in names:
                report.error(
                    CLIENTS_FILE,
                    ["clients", i, "issuer"],
                    f"unknown issuer {client.issuer!r} {known(names)}",
                )
        elif len(names) > 1:
            report.error(
                CLIENTS_FILE,
                ["clients", i, "id"],
                f"client {client.id} names no issuer, and {AUTH_FILE} trusts "
                f"{len(names)} ({', '.join(names)}): add `issuer:` with the one whose tokens "
                "speak for it, or any of them could name this client",
            )


def _check_budgets(
    report: Reporter, rate_limits: RateLimitPolicy, backends: frozenset[str]
) -> None:
    for name in rate_limits.backends:
        if name not in backends:
            report.error(
                RATE_LIMITS_FILE, ["backends", name], f"unknown backend {name!r} {known(backends)}"
            )
    for name in sorted(backends - set(rate_limits.backends)):
        report.warning(
            RATE_LIMITS_FILE,
            ["backends"],
            f"backend {name} has no capacity budget under backends: (nothing protects that ERP "
            "from the sum of all clients)",
        )


def _check_issuers(report: Reporter, auth: AuthPolicy, config_dir: Path) -> None:
    names: set[str] = set()
    urls: set[str] = set()
    for i, issuer in enumerate(auth.issuers):
        at: YamlPath = ("issuers", i)
        if issuer.name in names:
            report.error(AUTH_FILE, [*at, "name"], f"duplicate issuer name {issuer.name!r}")
        if issuer.issuer in urls:
            report.error(AUTH_FILE, [*at, "issuer"], f"duplicate issuer {issuer.issuer!r}")
        names.add(issuer.name)
        urls.add(issuer.issuer)
        host = _remote_over_plain_http(issuer.jwks_url) if issuer.jwks_url else None
        if host is not None:
            report.warning(
                AUTH_FILE,
                [*at, "jwks_url"],
                f"issuer {issuer.name} fetches its keys over plain http from {host}: anyone on "
                f"the way can swap them and sign tokens the gateway accepts; {_USE_HTTPS}",
            )
        key_file = issuer.public_key_file
        if key_file:
            try:
                held = public_key_in(config_dir / key_file, issuer.algorithms)
            except ValueError as exc:
                report.error(
                    AUTH_FILE, issuer_key_file_at(i), f"public key file {key_file!r} {exc}"
                )
            else:
                if held.expired_on is not None:
                    report.warning(
                        AUTH_FILE,
                        issuer_key_file_at(i),
                        f"public key file {key_file!r} holds a certificate that expired on "
                        f"{held.expired_on.isoformat()}: its key still verifies tokens, but the "
                        "issuer has probably rotated to a new key",
                    )


def _remote_over_plain_http(url: str) -> str | None:
    """The host `url` reaches over plain http when it is not this machine, else None: the one
    rule of every URL the gateway sends secrets or customers' data to, or trusts keys from."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # no URL a fetch could use: nothing to say of its transport
        return None
    if parts.scheme != "http" or host == "localhost":
        return None
    try:
        return None if ip_address(host).is_loopback else host
    except ValueError:  # a name, not an address
        return host


SUNSET_NOTICE_DAYS = 30  # a subscription's version this close to its sunset is warned of


def subscription_issues(
    documents: Mapping[str, YamlDocument],
    policy: SubscriptionsPolicy,
    clients: ClientsPolicy,
    api_versions: ApiVersionsPolicy | None,
) -> list[ConfigIssue]:
    """Subscriptions naming an unknown client or event type, and duplicate ids (errors);
    subscriptions delivering in an API version sunset by now (its day begun in UTC) or within
    `SUNSET_NOTICE_DAYS` (warnings: a configuration must load on the sunset day as the day
    before, or a restart that day would fail; its deliveries go on in that version)."""
    report = Reporter(documents)
    today = dt.datetime.now(dt.UTC).date()  # a version answers 410 from its sunset's midnight
    lifecycles = api_versions.versions if api_versions is not None else {}
    default = api_versions.default if api_versions is not None else None
    pins = {c.id: c.api_version for c in clients.clients}
    client_ids = set(pins)
    seen: set[str] = set()
    for i, subscription in enumerate(policy.subscriptions):
        at: YamlPath = ("subscriptions", i)
        if subscription.id in seen:
            report.error(SUBSCRIPTIONS_FILE, [*at, "id"], f"duplicate id {subscription.id!r}")
        seen.add(subscription.id)
        if subscription.client not in client_ids:
            report.error(
                SUBSCRIPTIONS_FILE,
                [*at, "client"],
                f"unknown client {subscription.client!r} {known(client_ids)}",
            )
        # As deliveries choose it: its own, else its client's pin, else the default.
        version = subscription.api_version or pins.get(subscription.client) or default
        lifecycle = lifecycles.get(version) if version is not None else None
        sunset = lifecycle.sunset if lifecycle is not None else None
        if sunset is not None and sunset <= today + dt.timedelta(days=SUNSET_NOTICE_DAYS):
            whose = (
                "its api_version"
                if subscription.api_version
                else f"the API version of client {subscription.client}"
            )
            when = f"is sunset since {sunset}" if sunset <= today else f"is sunset on {sunset}"
            report.warning(
                SUBSCRIPTIONS_FILE,
                [*at, "api_version" if subscription.api_version else "client"],
                f"subscription {subscription.id} delivers in {whose}, {version}, which {when} "
                "(api-versions.yaml): its deliveries go on in it; move the subscriber to a "
                "current version and name it here",
            )
        for j, glob in enumerate(subscription.types):
            if not any(fnmatchcase(t, glob) for t in EVENT_TYPES):
                report.error(
                    SUBSCRIPTIONS_FILE,
                    [*at, "types", j],
                    f"{glob!r} matches no event type {known(EVENT_TYPES)}",
                )
        host = _remote_over_plain_http(str(subscription.url))
        if host is not None:
            report.warning(
                SUBSCRIPTIONS_FILE,
                [*at, "url"],
                f"subscription {subscription.id} sends its events (customers' orders, shipments "
                f"and invoices) over plain http to {host}: anyone on the way can read them; "
                f"{_USE_HTTPS}",
            )
    return report.issues


def signing_secret_issues(parsed: ParsedConfig) -> list[ConfigIssue]:
    """Each variable of a subscription's secrets that signs nothing in the environment the
    configuration was loaded with, at its line (warnings): each delivery would fail and, after
    the schedule, be a dead letter, its `last_error` saying the same. Run by what sends or
    checks (`gateway check`, `serve`, `demo`, reloads), not by every command that reads the
    configuration: an operator's shell need not hold the webhooks' secrets."""
    report = Reporter(parsed.documents)
    subscriptions = parsed.subscriptions.subscriptions if parsed.subscriptions else []
    for i, subscription in enumerate(subscriptions):
        # The variables each delivery is signed with, by the key that names each.
        named = zip(("secret_env", "previous_secret_env"), subscription.secret_envs, strict=False)
        for key, variable in named:
            try:
                signing_key(parsed.env, variable)
            except ValueError as exc:
                report.warning(
                    SUBSCRIPTIONS_FILE,
                    ["subscriptions", i, key],
                    f"subscription {subscription.id}: {exc}; a gateway with this environment "
                    "fails every delivery to it (a dead letter after the retries)",
                )
    return report.issues


def events_secret_issues(parsed: ParsedConfig) -> list[ConfigIssue]:
    """Each backend whose ERP pushes its changes (`events: mode: push`) without its
    `secret_env` set in the environment the configuration was loaded with (unset or empty), at
    that line (warnings): each of its notifications would be refused (401), so no domain event
    of its orders. Run where a gateway serves or checks, as `signing_secret_issues` is."""
    report = Reporter(parsed.documents)
    for name, backend in sorted(parsed.backends.items()):
        events = backend.events
        if events is None or events.mode != "push" or events.secret(parsed.env):
            continue
        report.warning(
            backend_file(name),
            ["events", "secret_env"],
            f"backend {name}: the events secret {events.secret_env} is not set; a gateway with "
            f"this environment refuses every change notification of its ERP (401 at "
            f"/erp-events/{name}): no domain events of its orders",
        )
    return report.issues
