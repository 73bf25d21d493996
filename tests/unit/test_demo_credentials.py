"""The demo's ERP credentials are those the simulators trust, wherever they are written: the
cloud simulator's demo certificate is the demo key's, and the compose file passes what the
backend files name."""

from __future__ import annotations

from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization

from erp_simulators.netsuite.integrations import DEMO_PUBLIC_KEY
from gateway.config.backends import credential_variables
from gateway.config.loader import load_config
from gateway.demo import DEMO_CLOUD_PRIVATE_KEY, SIMULATOR_CREDENTIALS

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_private_key_is_the_one_the_cloud_simulator_trusts() -> None:
    key = serialization.load_pem_private_key(DEMO_CLOUD_PRIVATE_KEY.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.decode() == DEMO_PUBLIC_KEY


def test_the_demo_sets_every_credential_the_backends_name() -> None:
    config = load_config(REPO, env={})
    for backend in config.backends.values():
        assert set(credential_variables(backend)) <= set(SIMULATOR_CREDENTIALS)


def test_compose_gives_the_gateway_the_demo_credentials_the_backends_name() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    environment = compose["services"]["gateway"]["environment"]
    config = load_config(REPO, env={})
    for backend in config.backends.values():
        for variable in credential_variables(backend):
            assert environment[variable] == SIMULATOR_CREDENTIALS[variable], variable
