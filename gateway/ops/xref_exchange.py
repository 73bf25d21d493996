"""The ID cross-reference exchanged with a data-migration programme as CSV: every document of a
legal entity's records out, and mappings to a target ERP's ids in, validated row by row.

Not the Store (see `gateway.store`) nor the HTTP endpoints (see `gateway.api.admin`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.domain.errors import Code, FieldError, GatewayError
from gateway.domain.listing import some_of
from gateway.domain.operations import Kind, kind_of_id
from gateway.store.base import Binding, ErpDocument, Store, XrefRecord

EXPORT_COLUMNS = (
    "kind",
    "gateway_id",
    "legal_entity",
    "backend",
    "erp_id",
    "erp_document_number",
    "home",
    "external_ref",
    "gateway_ref",
)
# A mapping row names its record by gateway id, or by its document in a source ERP (for SAP,
# the document number is the key), and the record's document in the target ERP.
IMPORT_COLUMNS = (
    "kind",
    "gateway_id",
    "source_backend",
    "source_erp_id",
    "target_backend",
    "target_erp_id",
    "target_document_number",
)


def export_rows(records: Iterable[XrefRecord]) -> Iterator[str]:
    """The CSV, header first: one row per document of each record, its home marked."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    yield _drain(buffer)
    for record in records:
        for document in record.documents:
            writer.writerow(
                (
                    record.kind.value,
                    record.gateway_id,
                    record.legal_entity,
                    document.backend,
                    document.erp_id,
                    document.erp_document_number,
                    "true" if document == record.home else "false",
                    record.external_ref or "",
                    record.gateway_ref,
                )
            )
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    valid: int = 0
    bound: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "valid": self.valid,
            "bound": self.bound,
            "errors": [{"line": e.line, "message": e.message} for e in self.errors],
        }


@dataclass(frozen=True)
class _Row:
    line: int
    kind: Kind
    gateway_id: str
    source: tuple[str, str] | None
    target: ErpDocument


async def import_mappings(
    store: Store,
    text: str,
    backends: Sequence[str],
    *,
    dry_run: bool,
    first_line: int = 1,
    sees: Callable[[str], bool] = lambda _: True,
) -> ImportReport:
    """Validate every row first (each bad one reported by its line, `first_line` being the
    header's), then bind the good ones: a customer becomes present in the target ERP too; an
    order, shipment or invoice moves its home there. With `dry_run`, nothing is bound.

    A record of a legal entity the importing client does not `sees` is reported as one the
    gateway does not know, and one holding a target as "another record", unnamed."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text))
    rows: list[_Row] = []
    try:
        missing = [c for c in IMPORT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            report.errors.append(RowError(first_line, f"missing column(s): {', '.join(missing)}"))
            return report
        for raw in reader:
            report.rows += 1
            row = _parsed(first_line - 1 + _starts_on(reader.line_num, raw), raw, backends, report)
            if row is not None:
                rows.append(row)
    except csv.Error as exc:  # e.g. a field over the csv module's limit: nothing after it reads
        # The underlying reader's count: DictReader's own is set only after a row is read.
        raise _unreadable(first_line + reader.reader.line_num - 1, exc) from None
    rows = await _resolved(store, rows, report, sees)
    report.valid = len(rows)
    report.errors.sort(key=lambda e: e.line)
    if dry_run or not rows:
        return report
    bindings = [Binding(r.gateway_id, r.target, home=r.kind is not Kind.CUSTOMER) for r in rows]
    outcomes = await store.bind_documents(bindings)
    for row, outcome in zip(rows, outcomes, strict=True):
        if outcome.record is not None:
            report.bound += 1
        else:
            why = f"taken by {outcome.taken_by}" if outcome.taken_by else "the record is gone"
            report.errors.append(RowError(row.line, f"not bound: {why}"))
    report.errors.sort(key=lambda e: e.line)
    return report


def _starts_on(last_line: int, raw: Mapping[str, str | list[str] | None]) -> int:
    """The line of the text a row starts on, from the last line the reader read for it: a
    quoted field may hold line breaks, and blank lines (which the reader skips) are counted."""
    values = [
        v for value in raw.values() for v in ([value] if isinstance(value, str) else value or [])
    ]
    return last_line - sum(v.count("\n") for v in values)


def _unreadable(line: int, error: csv.Error) -> GatewayError:
    """The CSV cannot be read past `line`: the whole import is refused, nothing bound."""
    return GatewayError(
        Code.VALIDATION_FAILED,
        f"The CSV cannot be read at line {line}: {error}; nothing was imported.",
        [FieldError("", f"line {line}: {error}")],
    )


def _parsed(
    line: int, raw: Mapping[str, str | None], backends: Sequence[str], report: ImportReport
) -> _Row | None:
    def value(column: str) -> str:
        return (raw.get(column) or "").strip()

    problems: list[str] = []
    kind = next((k for k in Kind if k.value == value("kind")), None)
    if kind is None:
        problems.append(f"kind {value('kind')!r} is not one of {', '.join(k.value for k in Kind)}")
    gateway_id = value("gateway_id")
    source_backend, source_erp_id = value("source_backend"), value("source_erp_id")
    if gateway_id:
        if kind is not None and kind_of_id(gateway_id) is not kind:
            problems.append(f"gateway id {gateway_id!r} is not a {kind.value} id")
    elif not (source_backend and source_erp_id):
        problems.append("name the record: gateway_id, or source_backend and source_erp_id")
    for column in ("source_backend", "target_backend"):
        name = value(column)
        if name and name not in backends:
            problems.append(f"{column} {name!r} is not a backend ({some_of(backends)})")
    target_backend, target_erp_id = value("target_backend"), value("target_erp_id")
    if not target_backend or not target_erp_id:
        problems.append("target_backend and target_erp_id are required")
    if problems or kind is None:
        report.errors.append(RowError(line, "; ".join(problems)))
        return None
    document_number = value("target_document_number") or target_erp_id
    source = (source_backend, source_erp_id) if not gateway_id else None
    target = ErpDocument(target_backend, target_erp_id, document_number)
    return _Row(line, kind, gateway_id, source, target)


async def _resolved(
    store: Store, rows: list[_Row], report: ImportReport, sees: Callable[[str], bool]
) -> list[_Row]:
    """The rows whose record exists, of the kind said, and whose target document no other
    record (nor an earlier row) holds, each with its gateway id."""
    by_id = await store.get_xrefs([r.gateway_id for r in rows if r.source is None])
    by_source = await store.get_xrefs_by_erp(
        [(r.source[0], r.kind, r.source[1]) for r in rows if r.source is not None]
    )
    named_by_id, named_by_source = iter(by_id), iter(by_source)
    records = [next(named_by_source) if r.source else next(named_by_id) for r in rows]
    holders = await store.get_xrefs_by_erp(
        [(r.target.backend, r.kind, r.target.erp_id) for r in rows]
    )
    found = zip(records, holders, strict=True)
    good: list[_Row] = []
    claimed: dict[tuple[str, str, str], int] = {}
    for row, (record, holder) in zip(rows, found, strict=True):
        named = row.gateway_id or (f"{row.source[0]} {row.source[1]}" if row.source else "")
        if record is None or record.kind is not row.kind or not sees(record.legal_entity):
            report.errors.append(RowError(row.line, f"no {row.kind.value} {named} in the gateway"))
            continue
        if holder is not None and holder.gateway_id != record.gateway_id:
            other = holder.gateway_id if sees(holder.legal_entity) else "another record"
            report.errors.append(
                RowError(
                    row.line,
                    f"{row.target.backend} {row.target.erp_id} is already bound to {other}",
                )
            )
            continue
        key = (row.target.backend, row.kind.value, row.target.erp_id)
        if key in claimed:
            first = claimed[key]
            message = f"{row.target.backend} {row.target.erp_id} is also on line {first}"
            report.errors.append(RowError(row.line, message))
            continue
        claimed[key] = row.line
        good.append(_Row(row.line, row.kind, record.gateway_id, row.source, row.target))
    return good
