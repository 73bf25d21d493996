"""gateway.server's configuration and sockets as `gateway serve` uses them."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway import sockets
from gateway.cli.base import CommandError
from gateway.cli.listening import listen
from gateway.server import GatewayServerConfig, ServerLimits


@pytest.mark.parametrize("seconds", [0.3, 2.5, 7.9])
def test_the_keepalive_timeout_is_the_one_given(seconds: float) -> None:
    """`--keepalive-timeout S` takes any positive number of seconds (`arguments.seconds`), and idle
    connections are kept that long, not cut to whole seconds (0.3 was 1 s, 7.9 was 7 s)."""
    config = GatewayServerConfig(Starlette(), limits=ServerLimits(keepalive_timeout_s=seconds))
    assert config.timeout_keep_alive == seconds


def test_a_port_this_user_may_not_bind_is_not_said_to_be_in_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EACCES (a port below 1024 without the capability to bind it) is a permission problem,
    not "already in use": the person would look for a process that is not there."""

    def refused(*_: Any, **__: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(sockets, "bound", refused)
    with pytest.raises(CommandError) as error:
        listen("127.0.0.1", 80, "gateway serve --port 81")
    assert "already in use" not in str(error.value)
    assert "ermission" in str(error.value)
