"""Migration jobs: copy a legal entity's customers to another ERP, off the request path, within
that ERP's budget; idempotent and resumable, and visible from every gateway process.

Not the copy of one customer (see `gateway.service.replication`) nor the HTTP endpoints (see
`gateway.api.admin`). A job runs in the process that started it; its state lives in the Store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from gateway.domain.errors import (
    Code,
    FieldError,
    GatewayError,
    GatewayReferenceTaken,
)
from gateway.domain.listing import known
from gateway.domain.models import LegalEntityCode, Strict
from gateway.domain.operations import Kind
from gateway.ops.job_calls import JobCaller
from gateway.runtime import Runtime
from gateway.service.erp_calls import Origin
from gateway.service.replication import copy_customer
from gateway.store.base import XrefRecord
from gateway.store.journal import JournalRecord

log = logging.getLogger("gateway.migrations")

RETENTION_S = 7 * 86400  # how long a job's state can be read back
HEARTBEAT_S = 1.0  # a running job saves its progress at least this often
STALE_AFTER_S = 30.0  # a running job not heard of for this long was interrupted
MAX_CONCURRENCY = 8
MIGRATION_OPERATION = "migrations.run"  # a migration job's operation in the journal
JOB_PREFIX = "mig_"


class MigrationRequest(Strict):
    """`POST /admin/migrations`."""

    legal_entity: LegalEntityCode
    to: Annotated[str, Field(min_length=1, max_length=64)]
    records: Annotated[list[Literal["customers"]], Field(min_length=1)] = ["customers"]
    dry_run: bool = False


class JobStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class MigrationJob:
    """A job's state as every process reads it. `done` counts the records settled (copied,
    already there, or counted by a dry run), `failed` the records that could not be."""

    id: str
    legal_entity: str
    to: str
    records: list[str]
    dry_run: bool
    status: JobStatus = JobStatus.RUNNING
    total: int = 0
    done: int = 0
    failed: int = 0
    copied: int = 0  # of `done`: created in the target (or would be, in a dry run)
    errors: list[dict[str, str]] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> MigrationJob:
        data: dict[str, Any] = json.loads(raw)
        data["status"] = JobStatus(data["status"])
        return cls(**data)

    def view(self, now: float) -> dict[str, Any]:
        """What `GET /admin/migrations/{id}` answers; a running job whose process stopped
        reporting is shown failed, with what to do."""
        shown = asdict(self)
        if self.status is JobStatus.RUNNING and now - self.updated_at > STALE_AFTER_S:
            shown["status"] = JobStatus.FAILED
            shown["errors"] = [
                *self.errors,
                {
                    "record": "",
                    "message": "interrupted: the gateway process running the job stopped; "
                    "start the job again (it copies nothing twice)",
                },
            ]
        return shown


def _invalid(pointer: str, detail: str) -> GatewayError:
    return GatewayError(
        Code.VALIDATION_FAILED,
        f"The migration cannot start: {detail}",
        [FieldError(pointer, detail)],
    )


class Migrations:
    """Starts jobs in this process and reads any job's state from the Store."""

    def __init__(self, current: Callable[[], Runtime]) -> None:
        self._current = current
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, request: MigrationRequest) -> MigrationJob:
        runtime = self._current()
        if runtime.routing.legal_entity(request.legal_entity) is None:
            raise _invalid("/legal_entity", f"unknown legal entity {request.legal_entity}")
        if request.to not in runtime.backends:
            raise _invalid("/to", f"unknown backend {request.to!r} {known(runtime.backends)}")
        job = MigrationJob(
            id=JOB_PREFIX + secrets.token_hex(8),
            legal_entity=request.legal_entity,
            to=request.to,
            records=list(request.records),
            dry_run=request.dry_run,
        )
        await self._save(runtime, job)
        task = asyncio.create_task(self._run(runtime, job))
        self._tasks.add(task)  # held, so that it is not garbage-collected mid-run
        task.add_done_callback(self._tasks.discard)
        return job

    async def get(self, job_id: str) -> MigrationJob | None:
        raw = await self._current().store.get_job(job_id)
        return MigrationJob.from_json(raw) if raw is not None else None

    async def aclose(self) -> None:
        """Stop this process's jobs (on shutdown); a rerun picks up where they were."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _save(self, runtime: Runtime, job: MigrationJob) -> None:
        job.updated_at = time.time()
        await runtime.store.put_job(job.id, job.to_json(), RETENTION_S)

    async def _run(self, runtime: Runtime, job: MigrationJob) -> None:
        log.info("migration started", extra={"job": job.id, "legal_entity": job.legal_entity})
        started = time.time()
        try:
            records = await runtime.store.xrefs_of(Kind.CUSTOMER, job.legal_entity)
            job.total = len(records)
            await self._save(runtime, job)
            caller = JobCaller(self._current, job.id, Origin.MIGRATION)
            budget = runtime.rate_limits.backends.get(job.to)
            width = min(MAX_CONCURRENCY, max(1, budget.max_in_flight // 2)) if budget else 4
            gate = asyncio.Semaphore(width)
            saver = asyncio.create_task(self._heartbeat(runtime, job))

            async def one(record: XrefRecord) -> None:
                async with gate:
                    await self._migrate(runtime, job, caller, record)

            try:
                await asyncio.gather(*(one(r) for r in records))
            finally:
                saver.cancel()
            job.status = JobStatus.FAILED if job.failed else JobStatus.SUCCEEDED
        except GatewayError as error:
            job.status = JobStatus.FAILED
            job.errors.append({"record": "", "message": error.detail})
        except Exception:
            log.exception("migration failed", extra={"job": job.id})
            job.status = JobStatus.FAILED
            job.errors.append({"record": "", "message": _UNFORESEEN})
        job.finished_at = time.time()
        with contextlib.suppress(GatewayError):
            await self._save(runtime, job)
        runtime.journal.record(_journal_record(job, started))
        log.info(
            "migration finished",
            extra={
                "job": job.id,
                "status": job.status.value,
                "done": job.done,
                "failed": job.failed,
            },
        )

    async def _migrate(
        self, runtime: Runtime, job: MigrationJob, caller: JobCaller, record: XrefRecord
    ) -> None:
        if record.document_in(job.to) is None:
            if not job.dry_run:
                try:
                    await copy_customer(
                        caller, runtime.store, record, job.to, self._current().timeouts()
                    )
                except Exception as error:
                    # Whatever a copy fails with is this record's failure, not the job's: the
                    # rest move, and the job ends with its count (never left "running").
                    job.failed += 1
                    job.errors.append({"record": record.gateway_id, "message": _why(error, record)})
                    return
            job.copied += 1
        job.done += 1

    async def _heartbeat(self, runtime: Runtime, job: MigrationJob) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            with contextlib.suppress(GatewayError):
                await self._save(runtime, job)


_TAKEN = (
    "The target ERP holds another document under this customer's gateway reference; "
    "reconcile them there, then run the job again."
)
_UNFORESEEN = "The copy failed unexpectedly (the gateway's log has the details); run the job again."


def _why(error: Exception, record: XrefRecord) -> str:
    """What a record's failed copy tells the operator; logged with its traceback when it is
    none the gateway foresaw."""
    if isinstance(error, GatewayError):
        return error.detail
    if isinstance(error, GatewayReferenceTaken):
        # The target holds another document under this customer's reference (a copy made
        # outside the gateway, say): an operator's to reconcile.
        return _TAKEN
    log.error("migration: copy failed", extra={"record": record.gateway_id}, exc_info=error)
    return _UNFORESEEN


def _journal_record(job: MigrationJob, started: float) -> JournalRecord:
    """A migration job's journal entry: one transaction, accepted when every record moved."""
    ended = job.finished_at or time.time()
    status = "accepted" if job.status is JobStatus.SUCCEEDED else "failed"
    error = None
    if job.errors:
        error = {
            "category": "technical",
            "code": "migration_incomplete",
            "detail": f"{job.failed} record(s) not migrated; run the job again.",
        }
    return JournalRecord(
        id=job.id,
        arrived_at=started,
        ended_at=ended,
        fields={
            "operation": MIGRATION_OPERATION,
            "status": status,
            "client": "gateway",
            "legal_entity": job.legal_entity,
            "backend": job.to,
            "error": error,
            "migration": {
                "total": job.total,
                "done": job.done,
                "copied": job.copied,
                "failed": job.failed,
                "dry_run": job.dry_run,
            },
        },
        states=[
            {"state": "received", "at": started, "by": "migration job"},
            {"state": "submitted", "at": started, "by": "migration job"},
            {"state": status, "at": ended, "by": "migration job"},
        ],
    )
