"""Both adapters as the gateway builds them from the repository's backend files, over a fake
transport, with the auth answers they need first: for tests of how they read ERP answers.

Not the fake transport itself (see `tests/fake_transport.py`).
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.base import CallContext
from gateway.adapters.http import ErpResponse
from gateway.adapters.netsuite import NetSuiteRestAdapter
from gateway.adapters.netsuite.credentials import netsuite_credentials
from gateway.adapters.sap import SapODataAdapter
from gateway.config.backends import NetSuiteBackend, SapBackend
from gateway.demo import SIMULATOR_CREDENTIALS
from tests.fake_transport import FakeTransport, json_response

REPO = Path(__file__).resolve().parents[3]
SAP_SESSION = {"SAP_SESSIONID_S4H_100": "s3ss10n", "sap-usercontext": "sap-client=100"}
NETSUITE_TOKEN = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": "3600"}


@functools.cache
def _backend(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((REPO / "backends" / f"{name}.yaml").read_text())
    raw["base_url"] = f"http://{name}.invalid"
    return raw


def sap_adapter(transport: FakeTransport) -> SapODataAdapter:
    config = SapBackend.model_validate(_backend("legacy"))
    return SapODataAdapter("legacy", config, transport, "U", "P")


def netsuite_adapter(transport: FakeTransport) -> NetSuiteRestAdapter:
    config = NetSuiteBackend.model_validate(_backend("cloud"))
    credentials = netsuite_credentials("cloud", config, SIMULATOR_CREDENTIALS)
    return NetSuiteRestAdapter("cloud", config, transport, credentials)


def csrf_answer() -> ErpResponse:
    """SAP's answer to a CSRF token fetch: the token and the session cookie it is bound to."""
    return ErpResponse(200, {"x-csrf-token": "t0k3n"}, b"", SAP_SESSION)


def token_answer() -> ErpResponse:
    """NetSuite's answer to a client-credentials grant."""
    return json_response(200, NETSUITE_TOKEN)


def context(correlation_id: str = "corr-answers") -> CallContext:
    return CallContext(correlation_id, deadline=time.monotonic() + 30)
