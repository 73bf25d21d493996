"""What `gateway check` says of waves and freezes, and what `gateway plan` says a change to
routes.yaml would do: each finding at its file and line, each change with its second."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway import configuration
from gateway.config.lint import ParsedConfig
from gateway.config.loader import load_routes
from gateway.demo import DEMO_EVENT_SECRETS
from gateway.routing.lint import routing_issues
from gateway.routing.plan import plan
from gateway.routing.rules import compile_routes
from tests.unit.test_config_loader import config_copy, edit, line_of, only_error

RULES_AT = "\nrules:\n"
WAVE = dt.datetime(2027, 1, 4, 6, 0, tzinfo=dt.UTC).timestamp()
CA01_WAVE = """  - id: ca01-wave
    match: {legal_entities: [CA01]}
    backend: cloud
    effective_from: 2027-01-04T06:00:00Z
"""


def add_rules(config: Path, rules: str) -> int:
    """Insert rules at the top of routes.yaml; the line of the first one."""
    return edit(config, "routes.yaml", RULES_AT, RULES_AT + rules) + 2


def set_freezes(config: Path, freezes: str) -> int:
    return edit(config, "routes.yaml", "freezes: []\n", "freezes:\n" + freezes)


def warnings(config: Path) -> list[str]:
    return [
        str(i)
        for i in configuration.check(config, env=DEMO_EVENT_SECRETS)
        if i.severity == "warning"
    ]


def test_overlapping_waves_for_one_legal_entity_warn_at_the_later_rule(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = add_rules(
        config,
        CA01_WAVE.replace(
            "effective_from: 2027-01-04T06:00:00Z",
            "effective_from: 2027-01-04T06:00:00Z\n    effective_until: 2027-01-10T06:00:00Z",
        )
        + """  - id: ca01-back
    match: {legal_entities: [CA01], operations: ["sales_orders.*"]}
    backend: legacy
    effective_from: 2027-01-05T06:00:00Z
""",
    )
    found = warnings(config)
    assert len(found) == 1, found
    assert found[0].startswith(f"routes.yaml:{line + 5}: rule ca01-back")
    assert "overlaps rule ca01-wave" in found[0] and "CA01 sales_orders.create" in found[0]


def test_a_wave_that_ends_where_the_next_starts_is_no_overlap(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    add_rules(
        config,
        CA01_WAVE.replace(
            "effective_from: 2027-01-04T06:00:00Z",
            "effective_from: 2027-01-04T06:00:00Z\n    effective_until: 2027-01-05T06:00:00Z",
        )
        + """  - id: ca01-back
    match: {legal_entities: [CA01]}
    backend: legacy
    effective_from: 2027-01-05T06:00:00Z
""",
    )
    assert warnings(config) == []


def test_a_wave_without_a_match_warns_that_it_moves_everything_and_hides_the_rules_after_it(
    tmp_path: Path,
) -> None:
    # A wave meant for US01, its match forgotten: from its second it took every legal entity.
    config = config_copy(tmp_path)
    line = add_rules(config, CA01_WAVE.replace("    match: {legal_entities: [CA01]}\n", ""))
    assert warnings(config) == [
        f"routes.yaml:{line}: rule ca01-wave has no match, so it matches every request: no "
        "rule after it (wave-1) decides anything while it holds; name what it matches "
        "(match: {legal_entities: [...]}), or make it the last rule",
        f"routes.yaml:{line}: rule ca01-wave has no match, so it matches every request: from "
        "2027-01-04T06:00:00Z it moves every legal entity and operation at once; name what "
        "the wave moves (match: {legal_entities: [...]})",
    ]


def test_an_empty_match_before_other_rules_warns_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    add_rules(config, "  - id: everything\n    match: {}\n    backend: legacy\n")
    found = warnings(config)
    assert len(found) == 2, found
    match_line = line_of(config, "routes.yaml", "match: {}")
    assert found[0].startswith(f"routes.yaml:{match_line}: rule everything has no match, so ")
    assert "no rule after it (wave-1) decides anything while it holds" in found[0]
    assert "rule wave-1 never decides anything" in found[1]


def test_a_rule_without_a_match_last_in_the_list_is_no_mistake(tmp_path: Path) -> None:
    # A catch-all is documented (`match` absent: all); last, it hides no rule.
    config = config_copy(tmp_path)
    edit(
        config,
        "routes.yaml",
        "\ndefault_backend:",
        "  - id: the-rest\n    backend: legacy\n\ndefault_backend:",
    )
    assert warnings(config) == []


def test_a_freeze_already_over_warns_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = set_freezes(
        config,
        """  - {id: old-cutover, legal_entities: [CA01], from: 2020-01-01T00:00:00Z,
     until: 2020-01-01T01:00:00Z, reason: done}
""",
    )
    found = warnings(config)
    assert found == [
        f"routes.yaml:{line + 1}: freeze old-cutover is over (it ended "
        "2020-01-01T01:00:00Z); remove it"
    ]


def test_the_time_a_freeze_is_judged_over_is_injected(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    set_freezes(
        config,
        """  - {id: cutover, legal_entities: [CA01], from: 2027-01-04T05:30:00Z,
     until: 2027-01-04T06:00:00Z, reason: moving}
""",
    )
    parsed = _parsed(config)
    assert routing_issues(parsed, clock=lambda: WAVE - 1) == []
    (over,) = routing_issues(parsed, clock=lambda: WAVE)
    assert "freeze cutover is over" in over.message


def _parsed(config: Path) -> ParsedConfig:
    """The routes alone, as the linter sees them (lines aside)."""
    routes = load_routes(config / "routes.yaml")
    return ParsedConfig(config, {}, routes, frozenset(), {}, None, None, None)


def test_a_freeze_naming_an_unknown_legal_entity_or_operation_is_an_error(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    line = set_freezes(
        config,
        """  - id: cutover
    legal_entities: [CA02]
    from: 2027-01-04T05:30:00Z
    until: 2027-01-04T06:00:00Z
    reason: moving
""",
    )
    issue = only_error(config)
    assert issue.line == line + 2
    assert issue.message.startswith("unknown legal entity 'CA02'")


def test_a_freeze_glob_that_names_reads_warns_at_its_line_that_reads_are_never_frozen(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    line = set_freezes(
        config,
        """  - id: cutover
    legal_entities: [CA01]
    operations:
      - customers.create
      - "sales_orders.*"
      - customers.read
    from: 2030-01-04T05:30:00Z
    until: 2030-01-04T06:00:00Z
    reason: moving
""",
    )
    assert warnings(config) == [
        f"routes.yaml:{line + 5}: freeze cutover: 'sales_orders.*' matches sales_orders.read, "
        "which it does not freeze: reads are never frozen",
        f"routes.yaml:{line + 6}: freeze cutover: 'customers.read' matches customers.read, "
        "which it does not freeze: reads are never frozen",
    ]


def test_a_window_in_the_wrong_order_is_an_error_at_its_rule(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = add_rules(
        config,
        CA01_WAVE.replace(
            "effective_from: 2027-01-04T06:00:00Z",
            "effective_from: 2027-01-04T06:00:00Z\n    effective_until: 2027-01-04T05:00:00Z",
        ),
    )
    issue = only_error(config)
    assert issue.line == line
    assert "effective_until must be after effective_from" in issue.message


def test_an_instant_past_year_9999_in_utc_is_an_error_at_its_line(tmp_path: Path) -> None:
    # A valid RFC 3339 time ("for good", in a local offset) that Python cannot hold in UTC.
    config = config_copy(tmp_path)
    line = add_rules(
        config,
        CA01_WAVE.replace(
            "effective_from: 2027-01-04T06:00:00Z",
            "effective_from: 2027-01-04T06:00:00Z\n    effective_until: 9999-12-31T23:59:59-05:00",
        ),
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line + 4)
    assert "years 0001 to 9999 in UTC" in issue.message


def test_a_freeze_ending_past_year_9999_in_utc_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = set_freezes(
        config,
        """  - id: cutover
    legal_entities: [CA01]
    from: 2030-01-04T05:30:00Z
    until: 9999-12-31T23:59:59-05:00
    reason: moving
""",
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line + 4)
    assert "years 0001 to 9999 in UTC" in issue.message


@pytest.mark.parametrize("written", ["20270104", "1799042400", '"1799042400"', "2027.01"])
def test_an_instant_written_as_a_number_is_an_error_at_its_line_not_a_time_in_1970(
    tmp_path: Path, written: str
) -> None:
    # A date typed without dashes is a number to YAML; read as seconds since 1970, the wave
    # would be long past and take effect at once.
    config = config_copy(tmp_path)
    line = add_rules(
        config,
        CA01_WAVE.replace("effective_from: 2027-01-04T06:00:00Z", f"effective_from: {written}"),
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line + 3)
    assert "effective_from" in issue.message and "2026-12-01T06:00:00Z" in issue.message


def test_a_freeze_instant_written_as_a_number_is_an_error_at_its_line(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = set_freezes(
        config,
        """  - id: cutover
    legal_entities: [CA01]
    from: 2030-01-04T05:30:00Z
    until: 20300104
    reason: moving
""",
    )
    issue = only_error(config)
    assert (issue.file, issue.line) == ("routes.yaml", line + 4)
    assert "not a number" in issue.message


def test_plan_names_each_move_from_its_second_and_each_freeze(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    config = config_copy(tmp_path)
    old.write_text((config / "routes.yaml").read_text())
    add_rules(config, CA01_WAVE)
    set_freezes(
        config,
        """  - {id: ca01-cutover, legal_entities: [CA01], from: 2027-01-04T05:30:00Z,
     until: 2027-01-04T06:00:00Z, reason: CA01 moves}
""",
    )
    new.write_text((config / "routes.yaml").read_text())
    change = plan(compile_routes(load_routes(old)), compile_routes(load_routes(new)), WAVE - 86400)
    (move,) = change.moves
    assert (move.legal_entity, move.old, move.new, move.rule) == (
        "CA01",
        "legacy",
        "cloud",
        "ca01-wave",
    )
    assert (move.starts, move.ends) == (WAVE, None)
    (freeze,) = change.freezes
    assert (freeze.change, freeze.freeze.id) == ("added", "ca01-cutover")
    text = change.text()
    assert (
        "CA01 every operation: legacy -> cloud from 2027-01-04T06:00:00Z (rule ca01-wave)" in text
    )
    back = plan(compile_routes(load_routes(new)), compile_routes(load_routes(old)), WAVE + 1)
    assert "CA01 every operation: cloud -> legacy at once (rule default)" in back.text()
    assert "freeze ca01-cutover removed" in back.text()


def test_plan_of_a_file_against_itself_changes_nothing(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    routes = load_routes(config / "routes.yaml")
    change = plan(compile_routes(routes), compile_routes(routes), WAVE)
    assert change.moves == () and change.freezes == ()
    assert "none" in change.text() and "no change" in change.text()


def test_plan_names_legal_entities_added_with_their_routes_and_those_removed(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    old = config / "routes.yaml"
    text = old.read_text()
    assert "  SG01:" in text and "  MX01:" not in text
    new = tmp_path / "new.yaml"
    sg01 = text[text.index("  SG01:") :].split("\n", 1)[0]
    mx01 = "  MX01: {name: Acme Mexico, region: NA, country: MX, currency: MXN}"
    new.write_text(
        text.replace(sg01 + "\n", mx01 + "\n", 1).replace(RULES_AT, RULES_AT + MX01_WAVE, 1)
    )
    change = plan(compile_routes(load_routes(old)), compile_routes(load_routes(new)), WAVE - 60)
    added, removed = change.entities
    assert (added.change, added.legal_entity, removed.change, removed.legal_entity) == (
        "added",
        "MX01",
        "removed",
        "SG01",
    )
    text = change.text()
    assert "MX01 (Acme Mexico) added; its new requests go:" in text
    assert (
        "MX01 every operation: none -> legacy at once until 2027-01-04T06:00:00Z (rule default)"
        in text
    )
    assert "MX01 every operation: none -> cloud from 2027-01-04T06:00:00Z (rule mx01-wave)" in text
    assert "SG01 (" in text and "removed: new requests for it are refused" in text
    assert all(m.legal_entity not in ("MX01", "SG01") for m in change.moves)


MX01_WAVE = """  - id: mx01-wave
    match: {legal_entities: [MX01]}
    backend: cloud
    effective_from: 2027-01-04T06:00:00Z
"""


def test_plan_says_which_operations_a_freeze_stops_and_what_a_changed_one_was(
    tmp_path: Path,
) -> None:
    # A freeze of cancels only must not read as a freeze of every write, and a freeze widened
    # from cancels to every write must say so: a "changed" line alike before and after tells
    # the reviewer nothing.
    old, narrow, wide = (tmp_path / f"{n}.yaml" for n in ("old", "narrow", "wide"))
    config = config_copy(tmp_path)
    old.write_text((config / "routes.yaml").read_text())
    window = "from: 2027-01-04T05:30:00Z, until: 2027-01-04T06:00:00Z, reason: CA01 moves"
    set_freezes(
        config,
        f"  - {{id: ca01-cutover, legal_entities: [CA01], operations: [sales_orders.cancel],\n"
        f"     {window}}}\n",
    )
    narrow.write_text((config / "routes.yaml").read_text())
    wide.write_text(narrow.read_text().replace("operations: [sales_orders.cancel],\n     ", "", 1))
    tables = {p: compile_routes(load_routes(p)) for p in (old, narrow, wide)}
    added = plan(tables[old], tables[narrow], WAVE - 86400).text()
    assert (
        "freeze ca01-cutover added: CA01, sales_orders.cancel only, from 2027-01-04T05:30:00Z "
        "until 2027-01-04T06:00:00Z (CA01 moves)"
    ) in added
    every = plan(tables[old], tables[wide], WAVE - 86400).text()
    assert "freeze ca01-cutover added: CA01, from 2027-01-04T05:30:00Z" in every
    changed = plan(tables[narrow], tables[wide], WAVE - 86400).text()
    assert (
        "freeze ca01-cutover changed: CA01, from 2027-01-04T05:30:00Z until "
        "2027-01-04T06:00:00Z (CA01 moves); was CA01, sales_orders.cancel only, from "
        "2027-01-04T05:30:00Z until 2027-01-04T06:00:00Z (CA01 moves)"
    ) in changed
