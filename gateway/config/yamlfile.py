"""YAML documents that remember the line of every node, and `${VAR:-default}` expansion.

Not validation (see `gateway.config.loader`): this turns text into data plus a path -> line map.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

# The C parser keeps node marks too and is several times faster than the pure-Python one.
# A subclass of it, so that the constructor below is ours alone.
_Loader: type[yaml.SafeLoader] = type(
    "_Loader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {}
)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# What the parser was doing when a `*` stops it: an alias (`*name`) is what `*` starts in YAML.
_SCANNING_AN_ALIAS = "while scanning an alias"

# Bounds no honest configuration comes near, past which a document is refused before it is
# walked: an alias repeats its anchor's whole node, so a few lines of aliases of aliases expand
# to billions of nodes (and an alias inside its own anchor, to an endless structure); and every
# walk of the data recurses once per level.
MAX_DEPTH = 100
MAX_REPEATED_NODES = 100_000

PathKey = str | int
YamlPath = tuple[PathKey, ...]

# `$${` is a literal `${`; `${NAME}` and `${NAME:-default}` are references; a `${` without `}`
# is caught by the last alternative so that a typo is reported, not silently kept.
_REFERENCE = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_BODY = re.compile(rf"^(?P<name>{_NAME})(?::-(?P<default>.*))?$", re.DOTALL)

ENV_REFERENCE_PATTERN = rf"(?:^|[^$])\$\{{{_NAME}(?::-[^}}]*)?\}}"
"""A regular expression found (searched, not matched) in a string holding a well-formed
reference; what the JSON Schemas accept in place of a value (see `schemas.py`)."""


class YamlSyntaxError(Exception):
    """The text is not YAML; `line` (1-based) is where the parser gave up."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data with the line of each node, by its path of mapping keys and list indexes."""

    data: Any
    lines: Mapping[YamlPath, int]
    # A key given again in one mapping: its path, the line it was first at, the line again.
    # The later value is the one the data holds (as YAML loaders keep it), and `lines` has its.
    duplicate_keys: tuple[tuple[YamlPath, int, int], ...] = ()

    def existing_path(self, loc: Sequence[object]) -> YamlPath:
        """The deepest path of real nodes along `loc`, skipping steps that name no node.

        Validators put steps of their own into an error's location (a union member such as
        `list[str]`, a discriminator tag, `[key]`); skipping them keeps the path to real nodes.
        """
        path: YamlPath = ()
        for step in loc:
            if isinstance(step, str | int) and (*path, step) in self.lines:
                path = (*path, step)
        return path

    def line_of(self, loc: Sequence[object]) -> int:
        """The line of the deepest node that exists along `loc` (the document's line at worst)."""
        return self.lines[self.existing_path(loc)]


@dataclass(frozen=True)
class UnresolvedReference:
    """A `${...}` in a string value that could not be expanded, at `path`."""

    path: YamlPath
    message: str


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> object:
    # PyYAML raises a bare ValueError, without a line, for a date of the right shape that does
    # not exist (2027-13-01); a marked error names the line like any other YAML error.
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"{node.value!r} is not a date ({exc})", node.start_mark
        ) from exc


_Loader.add_constructor(_TIMESTAMP_TAG, _timestamp)


def parse_yaml(text: str) -> YamlDocument:
    """The document in `text`; raises `YamlSyntaxError` with the parser's line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, {(): 1})
        _NodeShape().measure(node)
        lines: dict[YamlPath, int] = {(): node.start_mark.line + 1}
        duplicates: list[tuple[YamlPath, int, int]] = []
        _record_lines(loader, node, (), lines, duplicates)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        line, said = _where_and_why(exc, text)
        raise YamlSyntaxError(line, f"invalid YAML: {said}") from exc
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a NUL, a control character): said at its line,
        # without the reader's "position N" that no editor shows.
        line = text.count("\n", 0, exc.position) + 1
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise YamlSyntaxError(
            line, f"invalid YAML: unacceptable character {what}: {exc.reason}"
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return YamlDocument(data, lines, tuple(duplicates))


def _where_and_why(exc: yaml.MarkedYAMLError, text: str) -> tuple[int | None, str]:
    """The line to look at and what the parser said. A quote or bracket left open is found
    where the parser gives up, lines further down, or at the end of the file (a line past the
    last): the message says the line it opened at, and at the end of the file that line is
    the one given, where the fix goes. A tab where the parser stopped is said to be one, and
    an alias that is a `*` alone to be one (`legal_entities: *`, "all" unquoted)."""
    problem, opened = exc.problem_mark, exc.context_mark
    said = exc.problem or "invalid YAML"
    if (
        problem is not None
        and text[problem.index : problem.index + 1] == "\t"
        and "tab" not in said
    ):
        # The C parser does not say which character: a tab looks like the spaces around it.
        said += ", a tab: YAML indents with spaces only"
    if exc.context == _SCANNING_AN_ALIAS:
        # The parser names what it did not find after the `*`, not the `*` itself.
        said += ', `*` starts an alias in YAML: quote it ("*")'
    if opened is not None and exc.context and problem is not None and opened.line != problem.line:
        at_end = problem.index >= len(text.rstrip())
        context = f"{exc.context} that starts at line {opened.line + 1}"
        return (opened if at_end else problem).line + 1, f"{said} ({context})"
    mark = problem or opened
    context = f" ({exc.context})" if exc.context else ""
    return (mark.line + 1 if mark is not None else None), f"{said}{context}"


class _NodeShape:
    """The depth and the size of a node graph as loading would expand it (an alias's node as
    often as it is named), each node visited once; `YamlSyntaxError` past the bounds above."""

    def __init__(self) -> None:
        self._measured: dict[int, tuple[int, int]] = {}  # id(node) -> (height, expanded size)
        self._open: set[int] = set()  # the nodes being measured: an ancestor of the current
        self._written = 0  # distinct nodes, as written in the text

    def measure(self, root: yaml.Node) -> None:
        _, size = self._shape(root, 1)
        if size - self._written > MAX_REPEATED_NODES:
            raise YamlSyntaxError(
                self._largest_repeat(root),
                f"invalid YAML: aliases repeat more than {MAX_REPEATED_NODES} nodes; write the "
                "repeated parts out, or name them fewer times",
            )

    def _shape(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        line = node.start_mark.line + 1
        if id(node) in self._open:
            raise YamlSyntaxError(
                line, "invalid YAML: an alias inside its own anchor (a structure that holds itself)"
            )
        known = self._measured.get(id(node))
        if known is None:
            known = self._walk(node, depth)
        if depth + known[0] - 1 > MAX_DEPTH:
            raise _too_deep(line)
        return known

    def _walk(self, node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise _too_deep(node.start_mark.line + 1)
        self._written += 1
        self._open.add(id(node))
        height, size = 0, 1
        for child in _children(node):
            child_height, child_size = self._shape(child, depth + 1)
            height, size = max(height, child_height), size + child_size
        self._open.discard(id(node))
        self._measured[id(node)] = (height + 1, size)
        return height + 1, size

    def _largest_repeat(self, node: yaml.Node) -> int:
        """The line of the deepest node whose expansion alone passes the bound: the anchor
        named too often, or the node naming it."""
        while True:
            over = [c for c in _children(node) if self._measured[id(c)][1] > MAX_REPEATED_NODES]
            if not over:
                return node.start_mark.line + 1
            node = max(over, key=lambda c: self._measured[id(c)][1])


def _too_deep(line: int) -> YamlSyntaxError:
    return YamlSyntaxError(line, f"invalid YAML: nested more than {MAX_DEPTH} levels deep")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _record_merged(
    loader: yaml.SafeLoader, source: yaml.MappingNode, path: YamlPath, lines: dict[YamlPath, int]
) -> None:
    """The keys a merge brings into the mapping at `path`, at the anchor's lines; a key the
    mapping has already (its own, or an earlier merge's) wins, as YAML's merge has it."""
    for key_node, value_node in source.value:
        if key_node.tag == _MERGE_TAG:
            continue
        inherited = (*path, _path_key(loader, key_node))
        if inherited not in lines:
            lines[inherited] = key_node.start_mark.line + 1
            _record_lines(loader, value_node, inherited, lines, [])


def _record_lines(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: YamlPath,
    lines: dict[YamlPath, int],
    duplicates: list[tuple[YamlPath, int, int]],
) -> None:
    # A mapping entry's line is its key's line: that is where an unknown or misspelt key is,
    # and a nested block value starts only on the next line.
    if isinstance(node, yaml.MappingNode):
        merges = [value for key, value in node.value if key.tag == _MERGE_TAG]
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # below, once the mapping's own keys (which override them) are in
            child = (*path, _path_key(loader, key_node))
            line = key_node.start_mark.line + 1
            if child in lines:
                first = next((f for p, f, _ in duplicates if p == child), lines[child])
                duplicates.append((child, first, line))
                # The later value is the one loaded: a problem in it is at its own lines.
                for stale in [p for p in lines if p[: len(child)] == child]:
                    del lines[stale]
            lines[child] = line
            _record_lines(loader, value_node, child, lines, duplicates)
        for merged in merges:  # `<<: *anchor` or `<<: [*a, *b]`: keys the mapping lacks
            sources = merged.value if isinstance(merged, yaml.SequenceNode) else [merged]
            for source in sources:
                if isinstance(source, yaml.MappingNode):
                    _record_merged(loader, source, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(loader, item, child, lines, duplicates)


def _path_key(loader: yaml.SafeLoader, key_node: yaml.Node) -> PathKey:
    if not isinstance(key_node, yaml.ScalarNode):
        return str(key_node.start_mark)  # a complex key; construction refuses it anyway
    key = loader.construct_object(key_node, deep=True)
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return key if isinstance(key, str) else str(key)


def expand_env(data: Any, env: Mapping[str, str]) -> tuple[Any, list[UnresolvedReference]]:
    """`data` with `${VAR}` and `${VAR:-default}` in string values expanded from `env`.

    As in the shell, `:-` also applies when the variable is set but empty. Keys are not
    expanded. An unset variable without a default is left as written and reported.
    """
    problems: list[UnresolvedReference] = []
    return _expanded(data, (), env, problems), problems


def _expanded(
    value: Any, path: YamlPath, env: Mapping[str, str], problems: list[UnresolvedReference]
) -> Any:
    if isinstance(value, str):
        return _expanded_string(value, path, env, problems) if "$" in value else value
    if isinstance(value, dict):
        return {k: _expanded(v, (*path, _as_path_key(k)), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v, (*path, i), env, problems) for i, v in enumerate(value)]
    return value


def _as_path_key(key: object) -> PathKey:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    return key if isinstance(key, str) else str(key)


def _expanded_string(
    text: str, path: YamlPath, env: Mapping[str, str], problems: list[UnresolvedReference]
) -> str:
    def substitute(match: re.Match[str]) -> str:
        whole, body = match.group(0), match.group("body")
        if whole == "$${":
            return "${"
        parsed = _BODY.match(body) if body is not None else None
        if parsed is None:
            shown = whole if body is not None else text[match.start() :]
            problems.append(UnresolvedReference(path, f"malformed variable reference {shown!r}"))
            return whole
        name, default = parsed.group("name"), parsed.group("default")
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                problems.append(
                    UnresolvedReference(
                        path,
                        f"environment variable {name} is not set and has no default "
                        f"(set it, or write ${{{name}:-default}})",
                    )
                )
                return whole
            return default
        return value

    return _REFERENCE.sub(substitute, text)
