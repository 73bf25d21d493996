"""The token the admin commands mint from the demo issuer when GATEWAY_ADMIN_TOKEN is unset:
one the gateway accepts, so within the issuer's `max_lifetime_s`."""

from __future__ import annotations

import re
from pathlib import Path

import jwt

from gateway.admin_client import admin_token
from gateway.config.loader import load_config
from gateway.demo import demo_issuer
from gateway.pipeline.auth import DEV_DEMO_SECRET
from tests.configs import EVENTS_SECRETS, copy_config


def _lifetime(config: Path) -> int:
    token, note = admin_token(dict(EVENTS_SECRETS), config)
    assert note is not None  # minted, not given
    claims = jwt.decode(token, DEV_DEMO_SECRET, algorithms=["HS256"], options={"verify_aud": False})
    return int(claims["exp"] - claims["iat"])


def test_an_admin_token_minted_lasts_an_hour_or_the_issuers_shorter_cap(tmp_path: Path) -> None:
    config = copy_config(tmp_path)
    assert _lifetime(config) == 3600
    auth = config / "policies" / "auth.yaml"
    auth.write_text(re.sub(r"max_lifetime_s: \d+", "max_lifetime_s: 600", auth.read_text()))
    assert demo_issuer(load_config(config, dict(EVENTS_SECRETS), ()).auth).max_lifetime_s == 600
    assert _lifetime(config) == 600
