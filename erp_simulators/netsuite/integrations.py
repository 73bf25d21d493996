"""The simulated account's integration records: who may call it, and with which credentials.

Not the checks made with them (see `oauth` for OAuth 2.0, `tba` for token-based authentication).

In NetSuite an integration record has one "Consumer Key / Client ID" and its secret; OAuth 2.0
machine-to-machine access maps certificates to it (Setup > Integration > OAuth 2.0 Client
Credentials (M2M) Setup: the certificate ID is what an assertion names in `kid`), and
token-based authentication issues access tokens (token ID and secret) for it. The account ID is
the OAuth 1.0a realm (upper case; a sandbox has a suffix such as `_SB1`).

The demo integration below is published in this repository: INSECURE, for the simulator only.
Its certificate's private key is `DEMO_PRIVATE_KEY` in `gateway/demo.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificate

DEMO_ACCOUNT_ID = "1234567_SB1"
DEMO_CLIENT_ID = "gateway-demo"
DEMO_CONSUMER_SECRET = "INSECURE-demo-consumer-secret-published-in-the-repo"
DEMO_CERTIFICATE_ID = "gateway-demo-certificate"
# The public half of the demo key pair (EC P-256, for ES256): INSECURE, its private half is
# published in this repository.
DEMO_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3L4DGEdXMFimDajTTBQVsfkfzEa6
govFCmEdsQ/h7pyDqhmb6O1X1yeJWSqgXS+4cD6+0DN28d+Z3VCTt06WxA==
-----END PUBLIC KEY-----
"""
DEMO_TOKEN_ID = "gateway-demo-token"
DEMO_TOKEN_SECRET = "INSECURE-demo-token-secret-published-in-the-repo"

REST_WEB_SERVICES = "rest_webservices"
SCOPES = frozenset({"restlets", REST_WEB_SERVICES, "suite_analytics"})


def public_key(pem: str) -> Any:
    """The key of a certificate (or a bare public key) in PEM, as NetSuite keeps an upload."""
    data = pem.encode("ascii")
    if b"BEGIN CERTIFICATE" in data:
        return load_pem_x509_certificate(data).public_key()
    return load_pem_public_key(data)


@dataclass(frozen=True)
class Integration:
    """One integration record with the credentials mapped to it."""

    client_id: str
    consumer_secret: str
    certificates: dict[str, str] = field(default_factory=dict)  # certificate id -> PEM
    tokens: dict[str, str] = field(default_factory=dict)  # TBA token id -> token secret
    scopes: frozenset[str] = SCOPES


DEMO_INTEGRATION = Integration(
    client_id=DEMO_CLIENT_ID,
    consumer_secret=DEMO_CONSUMER_SECRET,
    certificates={DEMO_CERTIFICATE_ID: DEMO_PUBLIC_KEY},
    tokens={DEMO_TOKEN_ID: DEMO_TOKEN_SECRET},
)


class Integrations:
    """Every integration of the account, looked up by client id, certificate id or token id."""

    def __init__(self, integrations: list[Integration]) -> None:
        self.by_client_id = {i.client_id: i for i in integrations}
        self.certificates: dict[str, tuple[Integration, Any]] = {
            kid: (i, public_key(pem)) for i in integrations for kid, pem in i.certificates.items()
        }
        self.tokens: dict[str, tuple[Integration, str]] = {
            token_id: (i, secret) for i in integrations for token_id, secret in i.tokens.items()
        }
