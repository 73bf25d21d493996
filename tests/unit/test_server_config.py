"""gateway.server's configuration and sockets as `gateway serve` uses them."""

from __future__ import annotations

import errno
import os
import re
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway import sockets
from gateway.cli.base import CommandError
from gateway.cli.listening import listen
from gateway.observability.client_address import trusted_proxies
from gateway.observability.forwarded_for import ForwardedFor
from gateway.server import GatewayServerConfig, ServerLimits
from tests.servers import free_port, run_cli


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


@pytest.mark.parametrize(
    ("given", "trusted"),
    [
        ("10.0.0.5", ("10.0.0.5",)),
        (" 10.0.0.0/8 , fd00::/8,::1 ", ("10.0.0.0/8", "fd00::/8", "::1")),
        ("", ()),
    ],
)
def test_trusted_proxies_are_addresses_and_networks(given: str, trusted: tuple[str, ...]) -> None:
    assert trusted_proxies(given) == trusted


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("lb.internal", "'lb.internal' is not an IP address"),
        ("10.0.0.1/8", "host bits set (the network is 10.0.0.0/8)"),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP network"),
        ("*", "'*' trusts every peer"),
        ("10.0.0.5,*", "'*' trusts every peer"),
        ("0.0.0.0/0", "'0.0.0.0/0' trusts every peer"),
        ("10.0.0.5, ::/0", "'::/0' trusts every peer"),
    ],
)
def test_a_proxy_that_is_no_address_is_refused_saying_which(given: str, said: str) -> None:
    """uvicorn took such an item as a name no peer has: nobody trusted, and nothing said. And
    with every peer trusted it takes the first address of X-Forwarded-For, which a caller
    writes when the proxy appends to the header (nginx, AWS's load balancers): the address
    logged and audited would be the caller's choice."""
    with pytest.raises(ValueError, match=re.escape(said)):
        trusted_proxies(given)


def test_uvicorns_proxy_headers_are_never_loaded_the_gateways_are() -> None:
    """uvicorn's ProxyHeadersMiddleware takes an X-Forwarded-For entry that is no address as
    the client (see test_forwarded_for.py); its FORWARDED_ALLOW_IPS must not turn it on."""
    for trusted in ((), ("10.0.0.5",)):
        config = GatewayServerConfig(Starlette(), limits=ServerLimits(), trusted_proxies=trusted)
        config.load()
        assert config.proxy_headers is False
        assert isinstance(config.loaded_app, ForwardedFor) is bool(trusted)


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--forwarded-allow-ips", "10.0.0.1/8"], {}, "--forwarded-allow-ips"),
        ([], {"GATEWAY_FORWARDED_ALLOW_IPS": "lb.internal"}, "GATEWAY_FORWARDED_ALLOW_IPS"),
    ],
)
def test_serve_refuses_a_bad_trusted_proxy_in_one_line_naming_the_option(
    args: list[str], env: dict[str, str], named: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    result = run_cli("serve", "--port", str(free_port()), *args, env={**clean, **env})
    assert result.returncode == 1
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"gateway serve: {named}: "), result.stderr
