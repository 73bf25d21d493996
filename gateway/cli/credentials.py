"""The ERP credentials a command needs before it starts (`serve`, `doctor`): each one missing
named with its backend's file, each unusable one (a key that is no key) said why."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.adapters.netsuite.credentials import netsuite_credentials
from gateway.cli.base import CommandError
from gateway.config.backends import NetSuiteBackend, credential_variables
from gateway.config.issues import BACKENDS_DIR
from gateway.config.loader import GatewayConfig


def require_credentials(config: GatewayConfig, env: Mapping[str, str]) -> None:
    missing = [
        f"{variable} ({BACKENDS_DIR}/{name}.yaml)"
        for name, backend in sorted(config.backends.items())
        for variable in credential_variables(backend)
        if not env.get(variable)
    ]
    if missing:
        raise CommandError(
            f"ERP credentials not set: {', '.join(missing)}.\n"
            "Set them in the environment (a secret store in production); `gateway demo` sets "
            "the simulators' own."
        )
    unusable = []
    for name, backend in sorted(config.backends.items()):
        if isinstance(backend, NetSuiteBackend):
            try:  # a key that is no key, or a key file that cannot be read
                netsuite_credentials(name, backend, env, config.config_dir)
            except ValueError as exc:
                unusable.append(str(exc))
    if unusable:
        raise CommandError(f"ERP credentials unusable: {'; '.join(unusable)}.")
