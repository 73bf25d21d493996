"""An issuer's public key file: the key it holds (bare, or certified by the first certificate
in it), checked to verify every algorithm it is for.

Not token verification (see `gateway.pipeline.auth`) nor JWKS keys (see `gateway.pipeline.keys`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

# RFC 7518 3.3 and 3.5: an RSA key of 2048 bits or more, for RS* and PS* alike.
MIN_RSA_BITS = 2048
# The curve each ECDSA algorithm signs on (RFC 7518 3.4): cryptography's name, JOSE's name.
_CURVES = {
    "ES256": ("secp256r1", "P-256"),
    "ES384": ("secp384r1", "P-384"),
    "ES512": ("secp521r1", "P-521"),
}
_CURVE_NAMES = dict(_CURVES.values())
_OTHER_KEYS: dict[type, str] = {
    ed25519.Ed25519PublicKey: "an Ed25519 key",
    ed448.Ed448PublicKey: "an Ed448 key",
    dsa.DSAPublicKey: "a DSA key",
    x25519.X25519PublicKey: "an X25519 key (for key agreement, not signatures)",
    x448.X448PublicKey: "an X448 key (for key agreement, not signatures)",
}
_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_UNREADABLE_CERTIFICATE = (
    "holds a certificate that cannot be read (damaged, or of an unknown key type)"
)


@dataclass(frozen=True)
class PublicKeyFile:
    """The key a public key file holds; `expired_on`: the last day of the certificate that
    holds it, when that day has passed (its key still verifies: a JWT does not depend on it)."""

    key: PublicKeyTypes
    expired_on: dt.date | None = None


def public_key_in(path: Path, algorithms: Iterable[str]) -> PublicKeyFile:
    """The public key in the PEM file at `path` (a bare key, or the one the file's first
    certificate certifies), one that verifies signatures of every one of `algorithms`;
    ValueError saying what is wrong: `not found`, `cannot be read (...)`, or what the file holds
    and what the algorithms need."""
    try:
        pem = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ValueError("not found") from None
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    if b"PRIVATE KEY-----" in pem:  # wherever it is in the file, beside a key or certificate
        raise ValueError(_no_public_key(pem))
    certificate = _first_certificate(pem)
    try:
        key = certificate.public_key() if certificate else load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(_UNREADABLE_CERTIFICATE if certificate else _no_public_key(pem)) from None
    needs: dict[str, list[str]] = {}  # what a key must be: the algorithms this one fails
    for algorithm in algorithms:
        if not verifies(key, algorithm):
            needs.setdefault(_needed(algorithm), []).append(algorithm)
    if needs:
        said = "; ".join(
            f"{', '.join(algs)} need{'s' if len(algs) == 1 else ''} {need}"
            for need, algs in needs.items()
        )
        held = f"a certificate of {_described(key)}" if certificate else _described(key)
        raise ValueError(f"holds {held}, but {said}")
    if certificate is None:
        return PublicKeyFile(key)
    ends = certificate.not_valid_after_utc
    return PublicKeyFile(key, ends.date() if ends < dt.datetime.now(dt.UTC) else None)


def _first_certificate(pem: bytes) -> x509.Certificate | None:
    """The certificate `pem` starts with (of a chain, the leaf), or None when it starts with
    something else; ValueError when that certificate cannot be read."""
    first = _PEM_LABEL.search(pem)
    if first is None or first.group(1) not in (b"CERTIFICATE", b"X509 CERTIFICATE"):
        return None
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ValueError(_UNREADABLE_CERTIFICATE) from None


def verifies(key: PublicKeyTypes, algorithm: str) -> bool:
    """Whether `key` may verify `algorithm`'s signatures: of its type, on its curve, an RSA key
    of MIN_RSA_BITS or more."""
    if algorithm in _CURVES:
        curve = _CURVES[algorithm][0]
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == curve
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS  # RS*, PS*


def _needed(algorithm: str) -> str:
    if algorithm in _CURVES:
        return f"an EC key on {_CURVES[algorithm][1]}"
    if algorithm == "EdDSA":
        return "an Ed25519 or Ed448 key"
    return f"an RSA key of at least {MIN_RSA_BITS} bits"


def _described(key: PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return f"an RSA key of {key.key_size} bits"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    return next(
        (said for kind, said in _OTHER_KEYS.items() if isinstance(key, kind)),
        f"a {type(key).__name__}",
    )


def _no_public_key(pem: bytes) -> str:
    """What a file that is no PEM public key holds, and what to give instead."""
    labels = [label.decode("ascii") for label in _PEM_LABEL.findall(pem)]
    if any("PRIVATE KEY" in label for label in labels):
        # The key that signs the issuer's tokens: on the gateway, anyone who reads the
        # configuration could mint them.
        return (
            "holds a private key, which must stay with the issuer: give its public key "
            "(`openssl pkey -pubout -in <file>`)"
        )
    if "PUBLIC KEY" in labels or "RSA PUBLIC KEY" in labels:
        return "holds a PEM public key that cannot be read (damaged, or of an unknown type)"
    return "holds no PEM public key (-----BEGIN PUBLIC KEY-----)"
