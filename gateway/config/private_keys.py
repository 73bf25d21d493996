"""A private key the gateway signs with (a NetSuite backend's), from PEM text or a key file,
checked to suit the algorithm it signs with.

Not where the key comes from (see `gateway.adapters.netsuite.credentials`) nor public keys
(see `public_keys.py`).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# The curve each ECDSA algorithm signs with (RFC 7518 section 3.4).
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


def private_key_of(pem: bytes, algorithm: str) -> PrivateKeyTypes:
    """The private key in `pem`, one that signs with `algorithm`; ValueError saying what is
    wrong, to follow the name of where the key came from."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = "it is encrypted" if "encrypted" in str(exc).lower() else "not a PEM private key"
        raise ValueError(f"holds no usable private key ({reason})") from None
    if algorithm.startswith("PS"):
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"holds no RSA key: {algorithm} needs an RSA key")
    elif not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, _CURVES[algorithm]
    ):
        curve = _CURVES[algorithm].name
        raise ValueError(f"holds no EC key on {curve}: {algorithm} needs an EC key on {curve}")
    return key


def private_key_in(path: Path, algorithm: str) -> PrivateKeyTypes:
    """The private key in the PEM file at `path`, as `private_key_of`; ValueError saying what
    is wrong, `cannot be read (...)` too."""
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    return private_key_of(pem, algorithm)


def backend_key_file(
    backend: str, key_file: str, algorithm: str, config_dir: Path | None
) -> PrivateKeyTypes:
    """The key in a backend's `private_key_file` (relative to `config_dir` unless absolute),
    as `private_key_in`; ValueError naming the backend and the file as written in its YAML,
    alike from `gateway check` (at the line) and from building the adapter."""
    path = Path(key_file)
    if not path.is_absolute() and config_dir is not None:
        path = config_dir / path
    try:
        return private_key_in(path, algorithm)
    except ValueError as exc:
        raise ValueError(f"backend {backend}: private key file {key_file!r} {exc}") from None
