"""The NetSuite backend's login secrets, read once from the environment (and a key file) into
what each login method needs: a certificate's id and private key, or TBA's four secrets.

Not how they are used (see `tokens.py` and `assertions.py` for OAuth 2.0, `oauth1.py` for TBA)
nor the YAML schema (see `gateway.config.backends`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.config.backends import NetSuiteBackend, NetSuiteClientCredentials, credentials_from
from gateway.config.private_keys import backend_key_file, private_key_of


@dataclass(frozen=True)
class ClientCredentials:
    """OAuth 2.0 client credentials: whose assertion, signed by which certificate's key, how."""

    client_id: str
    certificate_id: str
    private_key: Any = field(repr=False)  # a cryptography private key, never printed
    algorithm: str = "PS256"
    scopes: tuple[str, ...] = ("rest_webservices",)


@dataclass(frozen=True)
class TokenCredentials:
    """Token-based authentication: the realm, the integration's and the access token's keys."""

    account_id: str
    consumer_key: str
    consumer_secret: str = field(repr=False)
    token_id: str
    token_secret: str = field(repr=False)


NetSuiteCredentials = ClientCredentials | TokenCredentials


def netsuite_credentials(
    name: str, config: NetSuiteBackend, env: Mapping[str, str], config_dir: Path | None = None
) -> NetSuiteCredentials:
    """The backend's credentials from `env` (and its key file); ValueError saying what is
    missing or unusable, naming the variable or file."""
    auth = config.auth
    values = dict(zip(auth.variables(), credentials_from(name, config, env), strict=True))
    if not isinstance(auth, NetSuiteClientCredentials):
        return TokenCredentials(
            account_id=auth.account_id,
            consumer_key=values[auth.consumer_key_env],
            consumer_secret=values[auth.consumer_secret_env],
            token_id=values[auth.token_id_env],
            token_secret=values[auth.token_secret_env],
        )
    if auth.private_key_env:
        try:
            private_key = private_key_of(values[auth.private_key_env].encode(), auth.algorithm)
        except ValueError as exc:
            raise ValueError(
                f"backend {name}: environment variable {auth.private_key_env} {exc}"
            ) from None
    else:
        key_file = str(auth.private_key_file)
        private_key = backend_key_file(name, key_file, auth.algorithm, config_dir)
    certificate_id = auth.certificate_id or values[str(auth.certificate_id_env)]
    return ClientCredentials(
        client_id=values[auth.client_id_env],
        certificate_id=certificate_id,
        private_key=private_key,
        algorithm=auth.algorithm,
        scopes=tuple(auth.scopes),
    )
