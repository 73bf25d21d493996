"""Where an ERP's answer is read: whatever goes wrong while mapping it is that ERP's bad response
(502 erp_bad_response, retryable), logged as one line with the backend and the ERP operation.

Not the mappings themselves (each adapter's `inbound.py` and `errors.py`) nor transport failures
(see `http.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from gateway.adapters.base import CallContext
from gateway.domain.errors import Category, Code, ErpFailure, GatewayError

T = TypeVar("T")

log = logging.getLogger("gateway.adapters")

UNREADABLE = "The ERP sent a response the gateway could not read."
REFUSED_QUERY = "The ERP refused a query the gateway sent it."
_REASON_CHARS = 300  # enough to name the field; an ERP's whole body never goes to the log


class AnswerBoundary:
    """One backend's answers, mapped to the gateway's terms.

    A mapping may raise a `GatewayError` on purpose (a business refusal, a not-found): it passes
    through. Anything else it raises (`KeyError`, `TypeError`, `decimal.InvalidOperation`, a
    pydantic `ValidationError`...) means the answer had a shape the mapping did not expect: the
    ERP's bad response, ambiguous when it answered a write (the write may have committed).
    """

    __slots__ = ("backend",)

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def mapped(self, ctx: CallContext, mapping: Callable[[], T], *, write: bool = False) -> T:
        """`mapping()`, with any failure of it turned into erp_bad_response."""
        try:
            return mapping()
        except ErpFailure as failure:
            if failure.code is not Code.ERP_BAD_RESPONSE:
                raise
            failure.ambiguous = failure.ambiguous or write
            self._log(ctx, failure.detail, failure.ambiguous)
            raise
        except GatewayError:
            raise
        except Exception as exc:
            raise self.bad_response(ctx, _reason(exc), write=write) from exc

    def refusal(
        self, ctx: CallContext, mapping: Callable[[], GatewayError], *, read: bool = False
    ) -> GatewayError:
        """The problem an ERP's refusal maps to, for the caller to raise. The ERP refused, so
        nothing was committed: an unreadable refusal is a bad response, but not ambiguous.

        A refused `read` refused the gateway's own query (a filter or field the ERP's release
        does not take), nothing the client sent or could fix: a bad response, not a business
        problem, which a reconciling retry would otherwise store as the key's outcome.
        """
        error = self.mapped(ctx, mapping)
        if read and error.category is Category.BUSINESS:
            said = error.erp_message or error.detail
            return self.bad_response(
                ctx, f"a read refused: {said}", write=False, detail=REFUSED_QUERY
            )
        if isinstance(error, ErpFailure) and error.code is Code.ERP_BAD_RESPONSE:
            self._log(ctx, error.detail, error.ambiguous)
        return error

    def bad_response(
        self, ctx: CallContext, reason: str, *, write: bool, detail: str = UNREADABLE
    ) -> ErpFailure:
        """The erp_bad_response for an answer found unreadable outside a mapping, logged."""
        self._log(ctx, reason, write)
        return ErpFailure(Code.ERP_BAD_RESPONSE, detail, ambiguous=write)

    def _log(self, ctx: CallContext, reason: str, ambiguous: bool) -> None:
        log.warning(
            "unreadable ERP answer",
            extra={
                "backend": self.backend,
                "erp_operation": ctx.operation,
                "correlation_id": ctx.correlation_id,
                "reason": reason[:_REASON_CHARS],
                "ambiguous": ambiguous,
            },
        )


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"
