"""Shadow traffic: a sample of requests also answered by another backend, off the request path,
both answers compared in canonical form and counted in the store for the shadow report.

The client always gets the primary's answer, unchanged: `observe` runs once admission has
settled that answer as the client's (`ShadowAnswers`, the step just outside it), never awaits,
never raises; it schedules a task (within a per-rule concurrency cap, else
the sample is skipped and counted) that has its own timeout and spends an ERP's budget only
while the clients' share of it stays free (`CLIENTS_RESERVE`). Writes are shadowed only through
a side-effect-free path: the legacy ERP's sales-order simulation, or a sandbox account. Not the
comparison (see `gateway.routing.shadow_compare`) nor the report (see
`gateway.routing.shadow_report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gateway.adapters.base import CustomerContext, ErpSalesOrder, References
from gateway.adapters.priority import NoHeadroom, background_work, held_capacity, when_idle
from gateway.config.clients import ClientConfig
from gateway.config.rate_limits import BackendBudget
from gateway.domain.errors import (
    Category,
    ErpFailure,
    GatewayError,
    GatewayReferenceTaken,
    RefusedBeforeSending,
)
from gateway.domain.ids import GATEWAY_REF_PREFIX, random_hex
from gateway.domain.models import HoldReason
from gateway.domain.operations import SHADOWABLE, Operation
from gateway.observability.metrics import (
    SHADOW_DIFFERENCES,
    SHADOW_MATCHES,
    SHADOW_NOISE,
    SHADOW_SAMPLES,
)
from gateway.pipeline.chain import Handler
from gateway.pipeline.context import RequestContext
from gateway.pipeline.operation import OperationSpec
from gateway.pipeline.ratelimit import take_erp_budget
from gateway.routing.shadow_compare import differences, field_of, shown
from gateway.routing.shadow_report import (
    COMPARABLE,
    FAILED,
    NOISE,
    NOISE_CHECKS,
    NOISE_SKIPPED,
    NOT_COMPARABLE,
    SAMPLES,
    SKIPPED,
    is_noise,
    scope_of,
    signature,
)
from gateway.routing.shadows import NOISE_SALT, CompiledShadow, ShadowTable, sampled
from gateway.service.erp_calls import Backend, ErpCall, Origin, background_call
from gateway.service.views import customer_view, quote_view, sales_order_view
from gateway.store.base import SlotRequest, Store, StoreUnavailable, XrefRecord
from gateway.store.buffered import BufferedWriter
from gateway.store.shadow import ShadowTally

log = logging.getLogger("gateway.shadow")

MISSING = "(missing)"  # the field a sample differs in when the shadow ERP has no such record
DECISIONS = frozenset({Operation.SALES_ORDERS_CREATE, Operation.QUOTES_VALIDATE})
Tree = Any  # a canonical answer as parsed JSON
_RETIRING: set[asyncio.Task[None]] = set()  # shadowings replaced by a reload, finishing
# The share of an ERP's budget (burst and in-flight slots, at least one of each) a sample leaves
# to the clients: it is never in their way, so it goes only while that much is still free.
CLIENTS_RESERVE = 0.25


@dataclass(frozen=True)
class Sample:
    """What the shadow task needs of a request, taken before the request's context goes."""

    shadow: CompiledShadow
    operation: str
    legal_entity: str
    backend: str  # the primary's
    correlation_id: str
    client_id: str
    record: XrefRecord | None
    payload: Any
    primary: Tree  # its canonical answer (or its decision, for a create or a quote)


def decision_of(tree: Tree) -> Tree:
    """What a create (or a quote) decides, from a canonical sales order or quote result:
    accepted, prices, tax, totals and credit hold; the document's own facts left out."""
    if tree.get("status") is not None:  # a delivery block is a hold, but not for credit
        hold = tree.get("status") == "on_hold" and tree.get("hold_reason") == "credit"
    else:
        hold = tree.get("credit_check") == "would_block"
    return {
        "outcome": "accepted",
        "codes": [],
        "currency": tree.get("currency"),
        "items": [
            {
                "product_id": item.get("product_id"),
                "quantity": item.get("quantity"),
                "price": (item.get("price") or {}).get("amount"),
                "amount": (item.get("amount") or {}).get("amount"),
            }
            for item in tree.get("items", [])
        ],
        "net_amount": _amount(tree.get("net_amount")),
        "tax_amount": _amount(tree.get("tax_amount")),
        "total_amount": _amount(tree.get("total_amount")),
        "credit_hold": hold,
    }


def refusal_of(error: GatewayError) -> Tree:
    return {"outcome": "refused", "codes": [error.code.value]}


def _amount(money: Any) -> Any:
    return money.get("amount") if isinstance(money, dict) else None


def _order_decision(order: ErpSalesOrder) -> Tree:
    return {
        "outcome": "accepted",
        "codes": [],
        "currency": order.currency,
        "items": [
            {
                "product_id": line.sku,
                "quantity": line.quantity,
                "price": str(line.unit_price),
                "amount": str(line.amount),
            }
            for line in order.lines
        ],
        "net_amount": str(order.net_amount),
        "tax_amount": None if order.tax_amount is None else str(order.tax_amount),
        "total_amount": None if order.total_amount is None else str(order.total_amount),
        "credit_hold": order.hold_reason is HoldReason.CREDIT,
    }


def _record_of(sample: Sample) -> str | None:
    """The record a comparable sample compared, by its gateway id: the customer or order read,
    or the customer a quote or a create is for."""
    if sample.operation in DECISIONS:
        customer_id: str = sample.payload.customer_id
        return customer_id
    return sample.record.gateway_id if sample.record is not None else None


def shadow_reference() -> str:
    """A fresh gateway reference for one shadow create in a sandbox: the gateway's own, unique
    per sample (the client's correlation id may name a whole business flow of orders)."""
    return GATEWAY_REF_PREFIX + random_hex(13)


def reveal_values(clients: Iterable[ClientConfig]) -> frozenset[str]:
    """The clients whose field values the report may show (`shadow_values: true`)."""
    return frozenset(c.id for c in clients if c.shadow_values)


class _Slot:
    """A shadow call's in-flight slot of an ERP (`priority.HeldCapacity`): given back while
    the call waits for the clients, taken again (within the reserve) only if still free."""

    def __init__(self, store: Store, slot: SlotRequest) -> None:
        self._store = store
        self._slot = slot
        self._held = True

    async def let_go(self) -> None:
        if self._held:
            self._held = False
            await self._store.release_slot(self._slot.key, self._slot.token)

    async def take_again(self) -> None:
        if self._held:
            return
        slot = self._slot
        if not await self._store.acquire_slot(slot.key, slot.limit, slot.token, slot.lease_s):
            raise NoHeadroom(slot.key)
        self._held = True


class Shadowing:
    """The shadow traffic of one runtime."""

    def __init__(
        self,
        table: ShadowTable,
        backends: Mapping[str, Backend],
        store: Store,
        budgets: Mapping[str, BackendBudget],
        *,
        simulated: frozenset[str],
        reveal_values: frozenset[str],
        systems: Mapping[str, str] | None = None,
    ) -> None:
        self._table = table
        self._backends = backends
        self._store = store
        self._budgets = budgets
        self._simulated = simulated  # backends whose quote is the sales-order simulation
        self._reveal = reveal_values  # clients whose values the report may show
        # Backend -> the ERP it reaches (`erp_systems`): an account and its sandbox are one.
        self._systems: Mapping[str, str] = systems or {}
        self._in_flight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.retiring: asyncio.Task[None] | None = None  # once replaced by a reload
        self._writer: BufferedWriter[ShadowTally] = BufferedWriter(
            "shadow report", store.shadow.add, max_pending=10_000
        )

    # -- on the request path: cheap, synchronous, never raises --------------------------
    def observe(
        self, ctx: RequestContext, response: Response | None, error: GatewayError | None
    ) -> None:
        """After the primary answered (or refused): schedule a shadow sample if the request
        falls in one."""
        try:
            self._observe(ctx, response, error)
        except Exception:  # a shadow must never cost the client its answer
            log.exception("shadow sample not scheduled")

    def _observe(
        self, ctx: RequestContext, response: Response | None, error: GatewayError | None
    ) -> None:
        legal_entity, backend = ctx.legal_entity, ctx.backend
        if legal_entity is None or backend is None:
            return
        operation = ctx.spec.operation.value
        shadow = self._table.shadow_for(operation, legal_entity, ctx.arrived_at)
        if shadow is None or not sampled(ctx.correlation_id, shadow.sample):
            return
        erp_decided = ctx.forwarded or isinstance(error, RefusedBeforeSending)
        if error is not None and not (
            operation in DECISIONS and error.category is Category.BUSINESS and erp_decided
        ):
            # Only an ERP's business refusal of a create or a quote is an answer to compare
            # (its adapter's, from that ERP's value maps, included: a SKU the other ERP may
            # know): one the gateway made before asking any ERP (a customer of another legal
            # entity, or one the client may not act for) is the same whichever ERP is primary.
            return
        if response is not None and not 200 <= response.status_code < 300:
            return
        scope = scope_of(legal_entity, operation)
        if self._in_flight.get(shadow.rule_id, 0) >= shadow.max_in_flight:
            self._count(scope, {SAMPLES: 1, SKIPPED: 1}, legal_entity, operation, "skipped")
            return
        sample = Sample(
            shadow=shadow,
            operation=operation,
            legal_entity=legal_entity,
            backend=backend,
            correlation_id=ctx.correlation_id,
            client_id=ctx.principal.client_id if ctx.principal else "",
            record=ctx.record,
            payload=ctx.payload,
            primary=error if error is not None else getattr(response, "body", b""),
        )
        self._in_flight[shadow.rule_id] = self._in_flight.get(shadow.rule_id, 0) + 1
        task = asyncio.get_running_loop().create_task(self._run(sample))
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, shadow.rule_id))

    def _done(self, task: asyncio.Task[None], rule_id: str) -> None:
        self._tasks.discard(task)
        self._in_flight[rule_id] -= 1

    def _count(
        self,
        scope: str,
        counts: Mapping[str, int],
        legal_entity: str,
        operation: str,
        outcome: str,
        examples: tuple[str, ...] = (),
        record: str | None = None,
    ) -> None:
        SHADOW_SAMPLES.labels(legal_entity, operation, outcome).inc()
        self._writer.put(ShadowTally(scope, counts, examples, record))

    # -- off the request path -----------------------------------------------------------
    async def _run(self, sample: Sample) -> None:
        scope = scope_of(sample.legal_entity, sample.operation)
        background_work.set(True)  # this task's ERP answers wait for the clients' (priority.py)
        try:
            await when_idle()
            async with asyncio.timeout(sample.shadow.timeout_s):
                await self._compare(sample, scope)
        except NoHeadroom:  # the ERP's budget turned out the clients' again mid-call
            self._count(scope, {SAMPLES: 1, SKIPPED: 1}, *self._labels(sample), "skipped")
        except (
            TimeoutError,
            ErpFailure,
            StoreUnavailable,
            GatewayError,
            GatewayReferenceTaken,  # the sandbox holds a document under the sample's reference
        ) as exc:
            log.info(
                "shadow sample failed",
                extra={"correlation_id": sample.correlation_id, "reason": type(exc).__name__},
            )
            self._count(scope, {SAMPLES: 1, FAILED: 1}, *self._labels(sample), "failed")
        except Exception:
            log.exception("shadow sample failed", extra={"correlation_id": sample.correlation_id})
            self._count(scope, {SAMPLES: 1, FAILED: 1}, *self._labels(sample), "failed")

    def _same_erp(self, primary: str, shadow: str) -> bool:
        """Whether two backends are one ERP (a split's share on the shadow's ERP, or its
        sandbox account): a comparison of that ERP with itself, no evidence for a move."""
        systems = self._systems
        return primary == shadow or systems.get(primary, primary) == systems.get(shadow, shadow)

    @staticmethod
    def _labels(sample: Sample) -> tuple[str, str]:
        return sample.legal_entity, sample.operation

    async def _compare(self, sample: Sample, scope: str) -> None:
        shadow = sample.shadow
        fetch = (
            None if self._same_erp(sample.backend, shadow.backend) else await self._fetcher(sample)
        )
        if fetch is None:
            self._count(
                scope, {SAMPLES: 1, NOT_COMPARABLE: 1}, *self._labels(sample), "not_comparable"
            )
            return
        primary = self._primary_tree(sample)
        async with self._budget(shadow.backend) as admitted:
            if not admitted:
                self._count(scope, {SAMPLES: 1, SKIPPED: 1}, *self._labels(sample), "skipped")
                return
            theirs = await self._answer(shadow.backend, fetch(shadow.backend), sample)
        counts: dict[str, int] = {SAMPLES: 1, COMPARABLE: 1}
        noise: set[str] = set()
        if sample.operation != Operation.SALES_ORDERS_CREATE and sampled(
            sample.correlation_id, shadow.noise_sample, NOISE_SALT
        ):
            # The noise baseline: the primary again (a read, or a quote: nothing is created).
            found_noise = await self._noise(sample, fetch, primary)
            if found_noise is None:
                counts[NOISE_SKIPPED] = 1
            else:
                noise = found_noise
                counts[NOISE_CHECKS] = 1
                counts.update({NOISE + f: 1 for f in noise})
        await when_idle()
        found = differences(primary, theirs, shadow.compare) if theirs is not None else []
        fields = {field_of(d.path) for d in found} if theirs is not None else {MISSING}
        counts[signature(fields)] = 1
        reveal = sample.client_id in self._reveal
        examples, seen = [], set()
        for d in found:
            field = field_of(d.path)
            if field not in seen and not is_noise(field, noise):
                seen.add(field)
                pair = {"field": field, "primary": shown(d.primary, reveal)}
                pair["shadow"] = shown(d.shadow, reveal)
                examples.append(json.dumps(pair, default=str))
        legal_entity, operation = self._labels(sample)
        real = {f for f in fields if not is_noise(f, noise)}
        if not real:
            SHADOW_MATCHES.labels(legal_entity, operation).inc()
        for field in real:
            SHADOW_DIFFERENCES.labels(legal_entity, operation, field).inc()
        for field in noise:
            SHADOW_NOISE.labels(legal_entity, operation, field).inc()
        self._count(
            scope, counts, legal_entity, operation, "compared", tuple(examples), _record_of(sample)
        )

    async def _noise(
        self, sample: Sample, fetch: Callable[[str], Awaitable[Tree]], primary: Tree
    ) -> set[str] | None:
        """The fields that differ when the primary is asked again, or None when its budget
        has no room beside the clients' reserve (the noise check is skipped)."""
        await when_idle()  # before the primary's slot is taken, never while it is held
        try:
            async with self._budget(sample.backend) as admitted:
                if not admitted:
                    return None
                again = await self._answer(sample.backend, fetch(sample.backend), sample)
        except NoHeadroom:
            return None
        return self._differing(primary, again, sample.shadow)

    def _differing(self, a: Tree, b: Tree, shadow: CompiledShadow) -> set[str]:
        if b is None:
            return {MISSING}
        return {field_of(d.path) for d in differences(a, b, shadow.compare)}

    def _primary_tree(self, sample: Sample) -> Tree:
        if isinstance(sample.primary, GatewayError):
            return refusal_of(sample.primary)
        tree = json.loads(sample.primary)
        return decision_of(tree) if sample.operation in DECISIONS else tree

    async def _answer(self, backend: str, answer: Awaitable[Tree], sample: Sample) -> Tree:
        """A backend's canonical answer (a refusal as a decision, for a create or a quote)."""
        try:
            return await answer
        except GatewayError as error:
            if sample.operation in DECISIONS and error.category is Category.BUSINESS:
                return refusal_of(error)
            raise

    async def _fetcher(self, sample: Sample) -> Callable[[str], Awaitable[Tree]] | None:
        """How to ask a backend for the sample's answer, or None when the record is not
        present in the shadow backend (not comparable)."""
        operation, record, shadow = sample.operation, sample.record, sample.shadow
        if operation == Operation.CUSTOMERS_READ and record is not None:
            if record.document_in(shadow.backend) is None:
                return None

            async def customer(backend: str) -> Tree:
                document = record.document_in(backend) or record.home
                erp = await self._call(
                    backend, lambda a, c: a.get_customer(document.erp_id, c), sample
                )
                return None if erp is None else customer_view(erp, record).model_dump(mode="json")

            return customer
        if operation == Operation.SALES_ORDERS_READ and record is not None:
            if record.document_in(shadow.backend) is None:
                return None

            async def order(backend: str) -> Tree:
                document = record.document_in(backend) or record.home
                erp = await self._call(
                    backend, lambda a, c: a.get_sales_order(document.erp_id, c), sample
                )
                if erp is None:
                    return None
                return sales_order_view(erp, record).model_dump(mode="json")

            return order
        if operation in DECISIONS:
            return await self._decider(sample)
        return None

    async def _decider(self, sample: Sample) -> Callable[[str], Awaitable[Tree]] | None:
        payload, shadow = sample.payload, sample.shadow
        customer = await self._store.get_xref(payload.customer_id)
        if (
            customer is None
            or customer.legal_entity != sample.legal_entity  # the gateway's refusal, not an ERP's
            or customer.document_in(shadow.backend) is None
        ):
            return None
        simulate = sample.operation == Operation.QUOTES_VALIDATE
        items = list(payload.items)

        async def decide(backend: str) -> Tree:
            document = customer.document_in(backend)
            assert document is not None, "present in both: checked above"
            buyer = CustomerContext(erp_id=document.erp_id, legal_entity=customer.legal_entity)
            if simulate or backend in self._simulated:
                quote = await self._call(
                    backend,
                    lambda a, c: a.validate_quote(
                        sample.legal_entity,
                        buyer,
                        payload.currency,
                        payload.requested_delivery_date,
                        items,
                        c,
                    ),
                    sample,
                )
                view = quote_view(quote, sample.legal_entity, payload.customer_id)
                return decision_of(view.model_dump(mode="json"))
            # A sandbox account (checked by `gateway check`): a create there has no effect
            # on the business.
            refs = References(None, shadow_reference())
            created = await self._call(
                backend,
                lambda a, c: a.create_sales_order(
                    sample.legal_entity,
                    buyer,
                    payload.currency,
                    payload.requested_delivery_date,
                    items,
                    refs,
                    c,
                ),
                sample,
            )
            return _order_decision(created)

        return decide

    async def _call(self, backend: str, call: ErpCall[Any], sample: Sample) -> Any:
        """One call of the sample's, as any call the gateway makes without a client's request:
        through the backend's breaker, timed with the `shadow` origin. The sample's own
        `timeout_s` (around the whole sample) cancels it: abandoned, no verdict on the ERP."""
        binding = self._backends[backend]
        return await background_call(binding, call, sample.correlation_id, Origin.SHADOW)

    @contextlib.asynccontextmanager
    async def _budget(self, backend: str) -> AsyncIterator[bool]:
        """The backend's ERP budget for one shadow call: its rate and one in-flight slot,
        taken only while the clients' reserve stays free, held by the call but given back
        while it waits for the clients (`after_clients`), and given back at the end (True
        when admitted)."""
        budget = self._budgets.get(backend)
        if budget is None:
            yield True
            return
        timeout_s = self._backends[backend].timeout_s
        held, _ = await take_erp_budget(
            self._store, backend, budget, timeout_s, reserve=CLIENTS_RESERVE
        )
        if held is None:
            yield False
            return
        slot = _Slot(self._store, held)
        token = held_capacity.set(slot)
        try:
            yield True
        finally:
            held_capacity.reset(token)
            await slot.let_go()

    async def flush(self) -> None:
        """Wait for every running sample and write what they counted (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._writer.flush()

    def retire(self) -> None:
        """Replaced by a reload: the samples under way finish and are written, then the
        writer stops (no new sample comes: the new runtime's shadowing takes them)."""
        with contextlib.suppress(RuntimeError):  # no running loop: nothing is under way
            task = asyncio.get_running_loop().create_task(self._retired())
            _RETIRING.add(task)
            task.add_done_callback(_RETIRING.discard)
            self.retiring = task

    async def _retired(self) -> None:
        await self.flush()
        await self._writer.aclose()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._writer.aclose()


class ShadowAnswers:
    """The pipeline step just outside admission: hands the shadow traffic the answer the
    client is given, once. That is the handler's last answer (`ctx.answer`), and only once
    admission settled it: not one it set aside (a create answered again with the id its
    document has already; one whose id could not be bound, the client told 503 and its retry
    answered), nor a replay of a key's stored answer (the handler did not run)."""

    def __init__(self, shadowing: Shadowing) -> None:
        self._shadowing = shadowing

    @staticmethod
    def applies(spec: OperationSpec) -> bool:
        return spec.operation in SHADOWABLE

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Response:
        try:
            response = await call_next(ctx)
        except GatewayError as error:
            if error is ctx.answer:  # the handler's refusal, passed on to the client
                self._shadowing.observe(ctx, None, error)
            raise
        answer = ctx.answer
        if isinstance(answer, GatewayError):  # a refusal admission stored for the key, rendered
            self._shadowing.observe(ctx, None, answer)
        elif answer is response:
            self._shadowing.observe(ctx, response, None)
        return response
