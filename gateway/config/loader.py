"""Loads the configuration directory into one validated `GatewayConfig`, or every issue found.

Not the request path's compiled forms (see `gateway.runtime`, `gateway.routing`); run per reload.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from gateway.config.api_versions import ApiVersionsPolicy
from gateway.config.auth import AuthPolicy
from gateway.config.backends import BackendConfig, signing_key_file
from gateway.config.clients import ClientsPolicy
from gateway.config.events import SubscriptionsPolicy
from gateway.config.idempotency import IdempotencyPolicy
from gateway.config.issues import (
    API_VERSIONS_FILE,
    AUTH_FILE,
    BACKENDS_DIR,
    CLIENTS_FILE,
    IDEMPOTENCY_FILE,
    OPERATIONS_FILE,
    RATE_LIMITS_FILE,
    ROUTES_FILE,
    SUBSCRIPTIONS_FILE,
    ConfigError,
    ConfigIssue,
    yaml_files,
)
from gateway.config.lint import (
    ParsedConfig,
    backend_file,
    cross_file_issues,
    subscription_issues,
)
from gateway.config.operations import OperationsPolicy
from gateway.config.rate_limits import RateLimitPolicy
from gateway.config.routes import BACKEND_NAME_PATTERN, RoutesConfig
from gateway.config.yamlfile import YamlDocument, YamlPath, YamlSyntaxError, expand_env, parse_yaml

__all__ = [
    "AuthFiles",
    "Check",
    "ConfigError",
    "ConfigIssue",
    "GatewayConfig",
    "check_config",
    "config_version",
    "load_auth",
    "load_config",
    "load_routes",
]

log = logging.getLogger("gateway.config")

T = TypeVar("T")

Check = Callable[[ParsedConfig], list[ConfigIssue]]
"""A further check of what parsed (e.g. what the routing rules decide), run after the files'
own checks; its errors refuse the configuration as theirs do."""

_ROUTES = TypeAdapter(RoutesConfig)
_BACKEND: TypeAdapter[BackendConfig] = TypeAdapter(BackendConfig)
_AUTH = TypeAdapter(AuthPolicy)
_CLIENTS = TypeAdapter(ClientsPolicy)
_RATE_LIMITS = TypeAdapter(RateLimitPolicy)
_IDEMPOTENCY = TypeAdapter(IdempotencyPolicy)
_OPERATIONS = TypeAdapter(OperationsPolicy)
_API_VERSIONS = TypeAdapter(ApiVersionsPolicy)
_SUBSCRIPTIONS = TypeAdapter(SubscriptionsPolicy)
_BACKEND_NAME = re.compile(BACKEND_NAME_PATTERN)
_VALUE_ERROR_PREFIX = "Value error, "
_MAX_SHOWN_INPUT = 40
# pydantic's error of a value that is no string, and the one of a type with words (`Expected`).
_STRING_TYPE = "string_type"
_EXPECTED_TYPE = "expected"


@dataclass(frozen=True)
class GatewayConfig:
    """The whole validated configuration of one load."""

    config_dir: Path
    routes: RoutesConfig
    backends: dict[str, BackendConfig]  # by name: the stem of backends/<name>.yaml
    auth: AuthPolicy
    clients: ClientsPolicy
    rate_limits: RateLimitPolicy
    # policies/idempotency.yaml is optional: its defaults without it.
    idempotency: IdempotencyPolicy = field(default_factory=IdempotencyPolicy)
    # policies/api-versions.yaml is optional: every version current, the newest the default.
    api_versions: ApiVersionsPolicy = field(default_factory=ApiVersionsPolicy)
    # policies/operations.yaml is optional: the default request timeout, and the journal's and
    # audit trail's default retention.
    operations: OperationsPolicy = field(default_factory=OperationsPolicy)
    # policies/subscriptions.yaml is optional: no webhook subscriptions without it.
    subscriptions: SubscriptionsPolicy = field(default_factory=SubscriptionsPolicy)
    # A digest of every file's text and of the key files they name: the same files give the
    # same version on every process, and a replaced key is a new one.
    version: str = ""
    # The digest of each key file named (as in `version`), by its name as written: an adapter
    # whose key file was replaced under the same name is built again on reload.
    key_digests: Mapping[str, str] = field(default_factory=dict)
    # The digest of each YAML file read, by its path in the config directory: what a reload
    # says it changed, added or removed.
    file_digests: Mapping[str, str] = field(default_factory=dict)


def load_config(
    config_dir: str | Path, env: Mapping[str, str] | None = None, checks: Sequence[Check] = ()
) -> GatewayConfig:
    """The configuration in `config_dir`; raises `ConfigError` listing every error found.

    `${VAR}` and `${VAR:-default}` in string values are expanded from `env` (`os.environ`).
    Warnings do not stop the load; they are logged.
    """
    config, issues, version = _loaded(Path(config_dir), os.environ if env is None else env, checks)
    if config is None:
        raise ConfigError(issues, version)
    for issue in issues:
        log.warning("%s", issue)
    return config


def check_config(
    config_dir: str | Path, env: Mapping[str, str] | None = None, checks: Sequence[Check] = ()
) -> list[ConfigIssue]:
    """Every issue in `config_dir`, errors and warnings, in file and line order."""
    return _loaded(Path(config_dir), os.environ if env is None else env, checks)[1]


def config_version(config_dir: str | Path, env: Mapping[str, str] | None = None) -> str | None:
    """The version a load of `config_dir` names its files by (the digest of every file read and
    of the key files named), whether or not they load; None when there is no such directory."""
    return _loaded(Path(config_dir), os.environ if env is None else env, ())[2]


def load_routes(path: str | Path, env: Mapping[str, str] | None = None) -> RoutesConfig:
    """One routes file on its own (`gateway plan` compares two); `ConfigError` naming the file
    and line of each problem. Cross-file references are not checked (`gateway check` does)."""
    reader = _Reader(Path("."), os.environ if env is None else env)
    routes = reader.model(str(path), _ROUTES)
    if routes is None:
        raise ConfigError(reader.issues)
    return routes


@dataclass(frozen=True)
class AuthFiles:
    """Who may call, on their own: the token issuers and the clients."""

    auth: AuthPolicy
    clients: ClientsPolicy


def load_auth(config_dir: str | Path, env: Mapping[str, str] | None = None) -> AuthFiles:
    """policies/auth.yaml and policies/clients.yaml alone (`gateway token` mints an admin token
    with them while another file is broken); `ConfigError` naming the file and line of each
    problem in them, warnings logged. Cross-file references are not checked (`gateway check`)."""
    directory = Path(config_dir)
    if (absent := _not_a_directory(directory)) is not None:
        raise ConfigError([absent])
    reader = _Reader(directory, os.environ if env is None else env)
    auth = reader.model(AUTH_FILE, _AUTH)
    clients = reader.model(CLIENTS_FILE, _CLIENTS)
    issues = sorted(reader.issues, key=_issue_order)
    if auth is None or clients is None or any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    for issue in issues:
        log.warning("%s", issue)
    return AuthFiles(auth, clients)


def _loaded(
    config_dir: Path, env: Mapping[str, str], checks: Sequence[Check]
) -> tuple[GatewayConfig | None, list[ConfigIssue], str | None]:
    """The configuration (None on an error), every issue, and the digest of the files read."""
    if (absent := _not_a_directory(config_dir)) is not None:
        return None, [absent], None
    reader = _Reader(config_dir, env)
    routes = reader.model(ROUTES_FILE, _ROUTES)
    names = reader.backend_names()
    backends = {
        name: backend
        for name in sorted(names)
        if (backend := reader.model(backend_file(name), _BACKEND)) is not None
    }
    auth = reader.model(AUTH_FILE, _AUTH)
    for key_file in _key_files(auth, backends):
        reader.refer(key_file)
    clients = reader.model(CLIENTS_FILE, _CLIENTS)
    rate_limits = reader.model(RATE_LIMITS_FILE, _RATE_LIMITS)
    idempotency = reader.optional(IDEMPOTENCY_FILE, _IDEMPOTENCY, IdempotencyPolicy())
    operations = reader.optional(OPERATIONS_FILE, _OPERATIONS, OperationsPolicy())
    api_versions = reader.optional(API_VERSIONS_FILE, _API_VERSIONS, ApiVersionsPolicy())
    subscriptions = reader.optional(SUBSCRIPTIONS_FILE, _SUBSCRIPTIONS, SubscriptionsPolicy())
    if subscriptions is not None and clients is not None:
        reader.issues += subscription_issues(reader.documents, subscriptions, clients, api_versions)
    parsed = ParsedConfig(
        config_dir,
        reader.documents,
        routes,
        names,
        backends,
        auth,
        clients,
        rate_limits,
        subscriptions,
        env,
        operations,
    )
    found = [*reader.issues, *cross_file_issues(parsed)]
    for check in checks:
        found += check(parsed)
    issues = sorted(found, key=_issue_order)
    if any(i.severity == "error" for i in issues):
        return None, issues, reader.version()
    # Each required file gave a model or an error, and there was no error.
    assert routes is not None and auth is not None and clients is not None
    assert rate_limits is not None and idempotency is not None and api_versions is not None
    assert operations is not None and subscriptions is not None
    config = GatewayConfig(
        config_dir,
        routes,
        backends,
        auth,
        clients,
        rate_limits,
        idempotency,
        api_versions,
        operations,
        subscriptions,
        reader.version(),
        reader.key_digests(),
        reader.file_digests(),
    )
    return config, issues, config.version


def _not_a_directory(config_dir: Path) -> ConfigIssue | None:
    if config_dir.is_dir():
        return None
    what = "is not a directory" if config_dir.exists() else "does not exist"
    return ConfigIssue(".", None, f"config directory {config_dir} {what}")


def _key_files(auth: AuthPolicy | None, backends: Mapping[str, BackendConfig]) -> list[str]:
    """The key files the configuration names, read when its runtime is built (a rotated key
    is a file replaced under the same name, the YAML files untouched)."""
    named = [i.public_key_file for i in auth.issuers] if auth is not None else []
    named += [signing_key_file(backend) for backend in backends.values()]
    return [file for file in named if file]


def _issue_order(issue: ConfigIssue) -> tuple[str, int]:
    return issue.file, issue.line or 0


class _Reader:
    """Reads and validates one file at a time, collecting issues rather than stopping."""

    def __init__(self, config_dir: Path, env: Mapping[str, str]) -> None:
        self.config_dir = config_dir
        self.env = env
        self.documents: dict[str, YamlDocument] = {}
        self.issues: list[ConfigIssue] = []
        self._texts: dict[str, str] = {}
        self._referred: dict[str, str] = {}  # a key file named: the digest of its bytes

    def version(self) -> str:
        """A short digest of every file read, in file order, then of the key files named."""
        digest = hashlib.sha256()
        for file, text in sorted(self._texts.items()):
            digest.update(f"{len(file)}:{file}{len(text)}:".encode())
            digest.update(text.encode("utf-8"))
        for file, contents in sorted(self._referred.items()):
            digest.update(f"{len(file)}:{file}={contents}".encode())
        return digest.hexdigest()[:12]

    def key_digests(self) -> dict[str, str]:
        """Each key file named: the digest of its bytes (or `unreadable`)."""
        return dict(self._referred)

    def file_digests(self) -> dict[str, str]:
        """Each file read: the digest of its text."""
        return {
            file: hashlib.sha256(text.encode()).hexdigest() for file, text in self._texts.items()
        }

    def refer(self, file: str) -> None:
        """Count `file` (relative to the config directory unless absolute) in the version. One
        that cannot be read counts as such: building the runtime says why."""
        path = Path(file)
        try:
            data = (path if path.is_absolute() else self.config_dir / path).read_bytes()
        except OSError:
            self._referred[file] = "unreadable"
            return
        self._referred[file] = hashlib.sha256(data).hexdigest()

    def issue(self, file: str, line: int | None, message: str) -> None:
        self.issues.append(ConfigIssue(file, line, message))

    def backend_names(self) -> frozenset[str]:
        directory = self.config_dir / BACKENDS_DIR
        where = f"{BACKENDS_DIR}/"
        if not directory.is_dir():
            self.issue(where, None, "missing directory (one <name>.yaml per ERP backend)")
            return frozenset()
        names = set()
        for path in yaml_files(directory):
            if path.suffix == ".yml":
                self.issues.append(
                    ConfigIssue(
                        f"{where}{path.name}",
                        None,
                        "ignored: backend files end in .yaml",
                        "warning",
                    )
                )
            elif not _BACKEND_NAME.match(path.stem):
                self.issue(
                    f"{where}{path.name}",
                    None,
                    "a backend's name (its file name) must be lowercase letters, digits, - or _",
                )
            else:
                names.add(path.stem)
        if not names:
            self.issue(where, None, "no backend files (one <name>.yaml per ERP backend)")
        return frozenset(names)

    def model(self, file: str, schema: TypeAdapter[T]) -> T | None:
        """The file validated against `schema`, or None after recording why not."""
        document, unresolved = self._document(file)
        if document is None:
            return None
        if not isinstance(document.data, dict):
            shape = "empty" if document.data is None else "not a mapping of keys"
            self.issue(file, document.lines[()], f"the file is {shape}")
            return None
        try:
            value = schema.validate_python(document.data)
        except ValidationError as exc:
            self.issues.extend(schema_issues(file, document, exc, unresolved))
            return None
        return value

    def optional(self, file: str, schema: TypeAdapter[T], default: T) -> T | None:
        """An optional file as `model` reads it, or `default` where there is none. A symbolic
        link there that points nowhere is the file broken, not absent: read, it is an error
        (taken for absent, a reload turned what the file sets off)."""
        if not os.path.lexists(self.config_dir / file):
            return default
        return self.model(file, schema)

    def _document(self, file: str) -> tuple[YamlDocument | None, list[YamlPath]]:
        where = self.config_dir / file
        try:
            data = where.read_bytes()
        except FileNotFoundError:
            if where.is_symlink():
                target = os.readlink(where)
                self.issue(file, None, f"a symbolic link to {target}, which does not exist")
            else:
                self.issue(file, None, "missing file")
            return None, []
        except OSError as exc:
            self.issue(file, None, f"cannot read: {exc.strerror or exc}")
            return None, []
        try:
            text = _universal_newlines(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self.issue(file, *_not_utf8(data, exc))
            return None, []
        self._texts[file] = text
        try:
            parsed = parse_yaml(text)
        except YamlSyntaxError as exc:
            self.issue(file, exc.line, exc.message)
            return None, []
        for path, first, line in parsed.duplicate_keys:
            self.issue(file, line, f"duplicate key {path[-1]!r} (first at line {first})")
        data, problems = expand_env(parsed.data, self.env)
        document = YamlDocument(data, parsed.lines, parsed.duplicate_keys)
        self.documents[file] = document
        for problem in problems:
            self.issue(file, document.line_of(problem.path), problem.message)
        return document, [p.path for p in problems]


def _universal_newlines(text: str) -> str:
    """`text` with its line ends as `Path.read_text` gives them (CRLF and CR as LF), so that a
    file has the same version whichever way it is read."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> tuple[int, str]:
    """The line of the first byte that is no UTF-8 and what to do: an editor saving in Latin-1
    or Windows-1252 puts one where an accented letter is; one saving "Unicode" writes UTF-16,
    which its byte order mark, the first bytes, says."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return 1, "UTF-16 text, not UTF-8; save the file as UTF-8"
    line = data.count(b"\n", 0, exc.start) + 1
    return line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8"


def schema_issues(
    file: str, document: YamlDocument, exc: ValidationError, skip: Sequence[YamlPath] = ()
) -> list[ConfigIssue]:
    """Pydantic's errors as issues at the line of the deepest node each one points into.

    Errors under a path in `skip` (already reported: an unresolved variable) are left out;
    the errors of one node (one per member of a union) are merged into one issue.
    """
    merged: dict[tuple[YamlPath, str, str], list[str]] = {}
    unquoted: dict[tuple[YamlPath, str, str], str] = {}  # an issue's value, text YAML misread
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        if error["type"].startswith("union_tag") and "discriminator" in ctx:
            loc = (*loc, str(ctx["discriminator"]).strip("'"))
        path = document.existing_path(loc)
        if any(path[: len(p)] == p for p in skip):
            continue
        head, text, tail = _schema_message(
            error["type"], error["msg"], error.get("input"), path, loc
        )
        texts = merged.setdefault((path, head, tail), [])
        if text not in texts:
            texts.append(text)
        if read_as := _text_read_as(error["type"], error.get("input")):
            unquoted[path, head, tail] = f": YAML reads it unquoted as {read_as}; quote it"
    return [
        ConfigIssue(
            file,
            document.lines[path],
            f"{head}{', or '.join(texts)}{tail}{unquoted.get((path, head, tail), '')}",
        )
        for (path, head, tail), texts in merged.items()
    ]


def _text_read_as(kind: str, value: Any) -> str | None:
    """What YAML made of a value where text goes, if it was text as written: YAML 1.1 reads
    `NO`, `on` and `yes` unquoted as booleans, `1710` as a number and `0030` as the octal 24,
    and the error showing `(got false)` or `(got 24)` leaves the operator to guess why. A type
    with words (`Expected`: a country, a legal entity) says only that the value does not fit:
    a boolean there was text (`country: NO`), but a number may be one out of a number type's
    bounds, which quoting would not mend."""
    if isinstance(value, bool):
        return "a boolean" if kind in (_STRING_TYPE, _EXPECTED_TYPE) else None
    if isinstance(value, int | float):
        return "a number" if kind == _STRING_TYPE else None
    return None


def _schema_message(
    kind: str, msg: str, value: Any, path: YamlPath, loc: tuple[Any, ...]
) -> tuple[str, str, str]:
    """An error as (where, what, the offending value) so that a node's errors can merge."""
    if kind == "missing":
        return _prefix(path), f"missing key {loc[-1]!r}", ""
    if kind == "extra_forbidden":
        if path and loc and path[-1] == loc[-1]:  # the key's own line
            return _prefix(path[:-1]), f"unknown key {path[-1]!r}", ""
        # A key without a line of its own (one a merge key `<<:` brought in): named, at the
        # line of the mapping it was merged into.
        return _prefix(path), f"unknown key {loc[-1]!r}", ""
    got = ""
    if isinstance(value, str | int | float | bool) and not kind.startswith("union_tag"):
        shown = _as_yaml_writes(value)
        got = f" (got {shown})" if len(shown) <= _MAX_SHOWN_INPUT else ""
    return _prefix(path), msg.removeprefix(_VALUE_ERROR_PREFIX), got


def _as_yaml_writes(value: str | float) -> str:
    """A value read from YAML as YAML writes it: `true`, `.inf`, `.nan`, not Python's `True`,
    `inf`, `nan`; a string quoted (as Python does), so that `'1'` differs from `1`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return repr(value)


def _prefix(path: YamlPath) -> str:
    return f"{dotted(path)}: " if path else ""


def dotted(path: YamlPath) -> str:
    """A path as an architect would write it: `rules[0].match.regions[1]`."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
