"""OAuth token answers."""

from __future__ import annotations

import json

import pytest

from gateway.adapters.http import ErpResponse
from gateway.adapters.netsuite.tokens import token_from_response
from gateway.domain.errors import Code, ErpFailure


def test_a_token_answer_gives_the_token_and_its_lifetime_even_as_a_string() -> None:
    body = {"access_token": "t0k", "token_type": "Bearer", "expires_in": "3600"}
    answer = ErpResponse(200, {}, json.dumps(body).encode())
    assert token_from_response(answer) == ("t0k", 3600.0)
    refused = ErpResponse(401, {}, b'{"error": "invalid_client"}')
    with pytest.raises(ErpFailure) as raised:
        token_from_response(refused)
    assert raised.value.code is Code.ERP_UNAVAILABLE
    assert "invalid_client" not in raised.value.detail
