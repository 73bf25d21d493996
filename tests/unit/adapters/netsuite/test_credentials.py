"""The NetSuite backend's secrets: a certificate's key from the environment or a file, checked
against its algorithm; TBA's four secrets; never printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.adapters.netsuite.credentials import (
    ClientCredentials,
    TokenCredentials,
    netsuite_credentials,
)
from gateway.config.backends import NetSuiteBackend
from gateway.demo import DEMO_CLOUD_PRIVATE_KEY, SIMULATOR_CREDENTIALS
from tests.unit.adapters.netsuite.samples import REPO

RSA_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((REPO / "backends" / "cloud.yaml").read_text())
    raw["base_url"] = "https://1234567-sb1.suitetalk.api.netsuite.com"
    return raw


def config(**auth: Any) -> NetSuiteBackend:
    raw = _raw()
    raw["auth"] = {**raw["auth"], **auth}
    raw["auth"] = {k: v for k, v in raw["auth"].items() if v is not None}
    return NetSuiteBackend.model_validate(raw)


def test_the_demo_credentials_are_a_certificate_id_and_an_es256_key() -> None:
    credentials = netsuite_credentials("cloud", config(), SIMULATOR_CREDENTIALS)
    assert isinstance(credentials, ClientCredentials)
    assert (credentials.client_id, credentials.certificate_id, credentials.algorithm) == (
        "gateway-demo",
        "gateway-demo-certificate",
        "ES256",
    )
    assert "PRIVATE" not in repr(credentials) and "private_key" not in repr(credentials)


def test_a_private_key_file_is_read_relative_to_the_configuration_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "netsuite.pem").write_text(RSA_PEM)
    backend = config(private_key_env=None, private_key_file="keys/netsuite.pem", algorithm="PS256")
    credentials = netsuite_credentials("cloud", backend, SIMULATOR_CREDENTIALS, tmp_path)
    assert isinstance(credentials, ClientCredentials)
    assert isinstance(credentials.private_key, rsa.RSAPrivateKey)
    with pytest.raises(ValueError, match=r"private key file 'missing.pem' cannot be read"):
        missing = config(private_key_env=None, private_key_file="missing.pem")
        netsuite_credentials("cloud", missing, SIMULATOR_CREDENTIALS, tmp_path)


@pytest.mark.parametrize(
    ("algorithm", "pem", "error"),
    [
        ("PS256", DEMO_CLOUD_PRIVATE_KEY, "PS256 needs an RSA key"),
        ("ES256", RSA_PEM, "ES256 needs an EC key on secp256r1"),
        ("ES384", DEMO_CLOUD_PRIVATE_KEY, "ES384 needs an EC key on secp384r1"),
        ("ES256", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", "no usable"),
        (
            "ES256",
            ec.generate_private_key(ec.SECP256R1())
            .private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pass"),
            )
            .decode(),
            "encrypted",
        ),
    ],
)
def test_a_key_that_cannot_sign_with_the_algorithm_is_refused_naming_its_variable(
    algorithm: str, pem: str, error: str
) -> None:
    env = {**SIMULATOR_CREDENTIALS, "CLOUD_ERP_PRIVATE_KEY": pem}
    with pytest.raises(ValueError, match=error) as raised:
        netsuite_credentials("cloud", config(algorithm=algorithm), env)
    assert "CLOUD_ERP_PRIVATE_KEY" in str(raised.value)


def test_token_based_credentials_come_from_four_variables_and_hide_their_secrets() -> None:
    raw = _raw()
    raw["auth"] = {
        "method": "token_based",
        "account_id": "1234567_SB1",
        "consumer_key_env": "CLOUD_ERP_CONSUMER_KEY",
        "consumer_secret_env": "CLOUD_ERP_CONSUMER_SECRET",
        "token_id_env": "CLOUD_ERP_TOKEN_ID",
        "token_secret_env": "CLOUD_ERP_TOKEN_SECRET",
    }
    backend = NetSuiteBackend.model_validate(raw)
    credentials = netsuite_credentials("cloud", backend, SIMULATOR_CREDENTIALS)
    assert isinstance(credentials, TokenCredentials)
    assert (credentials.account_id, credentials.token_id) == ("1234567_SB1", "gateway-demo-token")
    assert "INSECURE" not in repr(credentials)
    with pytest.raises(ValueError, match="CLOUD_ERP_TOKEN_ID, CLOUD_ERP_TOKEN_SECRET"):
        partial = {k: v for k, v in SIMULATOR_CREDENTIALS.items() if "TOKEN" not in k}
        netsuite_credentials("cloud", backend, partial)
