"""The config files' JSON Schemas: committed and current, named on each file's first line, and
flagging what the loader refuses as an editor would, without flagging `${VAR}` references."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, ValidationError

from gateway.config.schemas import (
    DIALECT,
    MODELINE_PREFIX,
    SCHEMAS_DIR,
    modeline,
    schema_documents,
    schema_for,
)
from tests.unit.test_config_loader import config_copy, errors_in

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "run: .venv/bin/gateway schema"


def config_files() -> list[str]:
    """Every configuration file the repository ships, relative to its root."""
    found = [
        path.relative_to(REPO).as_posix()
        for pattern in ("routes.yaml", "backends/*.yaml", "policies/*.yaml")
        for path in sorted(REPO.glob(pattern))
    ]
    assert len(found) == 9, found  # routes, two backends, six policies
    return found


class _EditorYaml(yaml.SafeLoader):
    """YAML as the YAML language server reads it (1.2): `2027-01-01` is a string, not a date."""


_EditorYaml.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def editor_errors(config_file: str, text: str) -> list[ValidationError]:
    """What an editor flags in `text`, the content of `config_file`: it follows the schema the
    first line names (relative to the file) and validates the document, formats included."""
    first_line = text.splitlines()[0]
    assert first_line.startswith(MODELINE_PREFIX), first_line
    schema_path = REPO / posixpath.dirname(config_file) / first_line[len(MODELINE_PREFIX) :]
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return list(validator.iter_errors(yaml.load(text, Loader=_EditorYaml)))


def flagged_paths(errors: list[ValidationError]) -> set[tuple[Any, ...]]:
    """Where the errors are: for an error of a union (oneOf, anyOf), where its members' are."""

    def leaves(error: ValidationError) -> Iterator[tuple[Any, ...]]:
        if error.context:
            for inner in error.context:
                yield from leaves(inner)
        else:
            yield tuple(error.absolute_path)

    return {path for error in errors for path in leaves(error)}


def edited(config_file: str, old: str, new: str) -> str:
    text = (REPO / config_file).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should occur once in {config_file}"
    return text.replace(old, new)


def loader_errors(tmp_path: Path, config_file: str, text: str) -> list[str]:
    """What the loader refuses when `config_file` of the shipped configuration holds `text`."""
    config = config_copy(tmp_path)
    (config / config_file).write_text(text, encoding="utf-8")
    return [str(issue) for issue in errors_in(config)]


# -- committed, current, named ---------------------------------------------------------------


def test_the_committed_schemas_are_those_the_models_generate() -> None:
    expected = {name: text.encode("utf-8") for name, text in schema_documents().items()}
    committed = {path.name: path.read_bytes() for path in (REPO / SCHEMAS_DIR).glob("*.json")}
    names = expected.keys() | committed.keys()
    stale = sorted(name for name in names if expected.get(name) != committed.get(name))
    assert not stale, f"{SCHEMAS_DIR}/ is stale ({', '.join(stale)}); {REGENERATE}"


def test_each_schema_is_a_valid_draft_2020_12_schema() -> None:
    for name, text in schema_documents().items():
        schema = json.loads(text)
        assert schema["$schema"] == DIALECT, name
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("config_file", config_files())
def test_each_config_file_names_its_schema_on_its_first_line(config_file: str) -> None:
    first_line = (REPO / config_file).read_text(encoding="utf-8").splitlines()[0]
    assert first_line == modeline(config_file)
    named = REPO / posixpath.dirname(config_file) / first_line.removeprefix(MODELINE_PREFIX)
    assert named.resolve() == (REPO / SCHEMAS_DIR / schema_for(config_file).file).resolve()
    assert named.is_file()


def test_every_key_in_every_schema_has_a_description_for_the_editor_to_show() -> None:
    def undescribed(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in (node.get("properties") or {}).items():
                if "description" not in value:
                    yield f"{where}.{key}"
            for key, value in node.items():
                yield from undescribed(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                yield from undescribed(value, where)

    missing = [
        found
        for name, text in schema_documents().items()
        for found in undescribed(json.loads(text), name)
    ]
    assert not missing, "give these fields a Field(description=...): " + ", ".join(missing)


# -- what an editor flags ----------------------------------------------------------------------


@pytest.mark.parametrize("config_file", config_files())
def test_the_shipped_config_files_validate_against_their_schemas(config_file: str) -> None:
    text = (REPO / config_file).read_text(encoding="utf-8")
    assert [e.message for e in editor_errors(config_file, text)] == []


MISTAKES = [
    pytest.param(
        "policies/rate-limits.yaml",
        "on_store_error: open",
        "on_store_eror: open",
        (),
        id="an unknown key",
    ),
    pytest.param(
        "backends/legacy.yaml",
        "  keepalive_s: 30",
        "  keep_alive_s: 30",
        ("pool",),
        id="an unknown key in a backend",
    ),
    pytest.param(
        "policies/rate-limits.yaml",
        "burst: 100",
        "burst: lots",
        ("tiers", "standard", "burst"),
        id="a word for a number",
    ),
    pytest.param(
        "policies/auth.yaml",
        "leeway_s: 30 ",
        "leeway_s: 90 ",
        ("issuers", 0, "leeway_s"),
        id="a number out of range",
    ),
    pytest.param(
        "policies/auth.yaml",
        "max_lifetime_s: 86400 ",
        "max_lifetime_s: 0 ",
        ("issuers", 0, "max_lifetime_s"),
        id="a token lifetime cap of no time",
    ),
    pytest.param(
        "backends/legacy.yaml",
        "base_url: ${GATEWAY_LEGACY_URL:-http://127.0.0.1:9101}",
        "base_url: ftp://127.0.0.1:9101",
        ("base_url",),
        id="a URL that is not http",
    ),
    pytest.param(
        "backends/legacy.yaml",
        "base_url: ${GATEWAY_LEGACY_URL:-http://127.0.0.1:9101}",
        "base_url: $${GATEWAY_LEGACY_URL}",
        ("base_url",),
        id="an escaped dollar, which is no reference",
    ),
    pytest.param(
        "routes.yaml",
        '  US01: {name: "Acme US Inc."',
        '  us01: {name: "Acme US Inc."',
        ("legal_entities",),
        id="a map key that misses its pattern",
    ),
    pytest.param(
        "policies/idempotency.yaml",
        "  customers.create: optional",
        "  customer.create: optional",
        ("operations",),
        id="an unknown operation as a key",
    ),
    pytest.param(
        "policies/idempotency.yaml",
        "  customers.create: optional",
        "  customers.create: mandatory",
        ("operations", "customers.create"),
        id="a value outside its enum",
    ),
    pytest.param(
        "policies/auth.yaml",
        "algorithms: [HS256]",
        "algorithms: [none]",
        ("issuers", 0, "algorithms", 0),
        id="an algorithm the gateway refuses",
    ),
    pytest.param(
        "policies/clients.yaml",
        "    legal_entities: [DE01, FR01, GB01]",
        "    legal_entities: all",
        ("clients", 1, "legal_entities"),
        id="a word where a list or * is expected",
    ),
    pytest.param(
        "policies/api-versions.yaml",
        "  v2: {}",
        "  v9: {}",
        ("versions",),
        id="an unknown API version",
    ),
    pytest.param(
        "policies/api-versions.yaml",
        "  v2: {}",
        "  v2: {sunset: 2027-13-01}",
        ("versions", "v2", "sunset"),
        id="a date that is no date",
    ),
]


@pytest.mark.parametrize(("config_file", "old", "new", "path"), MISTAKES)
def test_a_typical_mistake_is_flagged_where_it_is_and_refused_by_the_loader(
    tmp_path: Path, config_file: str, old: str, new: str, path: tuple[Any, ...]
) -> None:
    text = edited(config_file, old, new)
    assert path in flagged_paths(editor_errors(config_file, text))
    assert loader_errors(tmp_path, config_file, text)


REFERENCES = [
    pytest.param(
        "backends/legacy.yaml",
        "timeout_s: 5 ",
        "timeout_s: ${LEGACY_TIMEOUT_S:-5} ",
        id="a number",
    ),
    pytest.param(
        "backends/legacy.yaml",
        "base_url: ${GATEWAY_LEGACY_URL:-http://127.0.0.1:9101}",
        "base_url: http://${LEGACY_HOST:-127.0.0.1}:9101",
        id="part of a URL",
    ),
    pytest.param(
        "policies/rate-limits.yaml",
        "on_store_error: open ",
        "on_store_error: ${RATE_LIMITS_ON_STORE_ERROR:-closed} ",
        id="a choice",
    ),
    pytest.param(
        "policies/idempotency.yaml",
        "  customers.create: optional",
        "  customers.create: ${CUSTOMER_KEYS:-required}",
        id="a map's value",
    ),
    pytest.param(
        "policies/api-versions.yaml",
        "  v2: {}",
        "  v2:\n    deprecated: ${V2_DEPRECATED:-2027-01-01}",
        id="a date",
    ),
]


@pytest.mark.parametrize(("config_file", "old", "new"), REFERENCES)
def test_a_reference_is_accepted_wherever_the_loader_accepts_it(
    tmp_path: Path, config_file: str, old: str, new: str
) -> None:
    text = edited(config_file, old, new)
    assert [e.message for e in editor_errors(config_file, text)] == []
    assert loader_errors(tmp_path, config_file, text) == []


def test_a_reference_as_a_key_is_flagged_like_the_loader_which_never_expands_keys(
    tmp_path: Path,
) -> None:
    config_file = "policies/idempotency.yaml"
    text = edited(config_file, "  customers.create:", "  ${OPERATION:-customers.create}:")
    assert ("operations",) in flagged_paths(editor_errors(config_file, text))
    assert loader_errors(tmp_path, config_file, text)
