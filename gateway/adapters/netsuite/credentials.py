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

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from gateway.config.backends import NetSuiteBackend, NetSuiteClientCredentials, credentials_from

# The curve each ECDSA algorithm signs with (RFC 7518 section 3.4).
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


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


def signing_key(pem: bytes, algorithm: str, source: str) -> Any:
    """The private key in `pem`, checked to suit `algorithm`; ValueError naming `source`."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted" if "encrypted" in str(exc).lower() else "not a PEM private key"
        raise ValueError(f"{source} holds no usable private key ({reason})") from None
    if algorithm.startswith("PS"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{source}: {algorithm} needs an RSA key")
    elif not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, _CURVES[algorithm]
    ):
        raise ValueError(f"{source}: {algorithm} needs an EC key on {_CURVES[algorithm].name}")
    return key


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
        source = f"backend {name}: environment variable {auth.private_key_env}"
        pem = values[auth.private_key_env].encode("utf-8")
    else:
        path = Path(str(auth.private_key_file))
        if not path.is_absolute() and config_dir is not None:
            path = config_dir / path
        source = f"backend {name}: private key file {path}"
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{source} cannot be read ({exc.strerror or exc})") from None
    certificate_id = auth.certificate_id or values[str(auth.certificate_id_env)]
    return ClientCredentials(
        client_id=values[auth.client_id_env],
        certificate_id=certificate_id,
        private_key=signing_key(pem, auth.algorithm, source),
        algorithm=auth.algorithm,
        scopes=tuple(auth.scopes),
    )
