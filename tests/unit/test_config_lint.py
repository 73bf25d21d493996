"""Cross-file checks: every reference between routes, backends and policies must resolve."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import NameOID

from gateway import configuration
from gateway.config.issues import ConfigError
from gateway.demo import DEMO_EVENT_SECRETS
from gateway.domain.listing import KNOWN_SHOWN, some_of
from tests.unit.test_config_loader import config_copy, edit, line_of, only_error

NA_RULE = "  - id: wave-1  "  # the demo's rule, as written (the comment starts later)


def add_rule(config: Path, rule: str) -> int:
    """Insert a rule before the demo's first one; the line where it starts."""
    return edit(config, "routes.yaml", NA_RULE, rule + NA_RULE)


def test_an_unknown_backend_in_a_rule_names_the_known_ones(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "backend: cloud ", "backend: clowd ")
    assert str(only_error(config)) == (
        f"routes.yaml:{line}: unknown backend 'clowd' (known: cloud, legacy)"
    )


def test_an_unknown_default_backend_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", "default_backend: legacy", "default_backend: sap")
    issue = only_error(config)
    assert (issue.line, issue.message) == (line, "unknown backend 'sap' (known: cloud, legacy)")


def test_a_duplicate_rule_id_is_reported_at_the_second_rule(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    first = add_rule(config, "  - id: wave-1\n    backend: legacy\n")
    second = line_of(config, "routes.yaml", NA_RULE)
    issue = only_error(config)
    assert issue.line == second
    assert issue.message == f"duplicate rule id 'wave-1' (first at line {first})"


def test_an_unknown_legal_entity_in_a_match_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = add_rule(
        config, "  - id: uk\n    match:\n      legal_entities: [UK01]\n    backend: cloud\n"
    )
    issue = only_error(config)
    assert issue.line == line + 2
    assert issue.message.startswith("unknown legal entity 'UK01' (known: CA01, DE01")


def test_an_unknown_region_in_a_match_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(
        config,
        "routes.yaml",
        "legal_entities: [US01]}",
        "legal_entities: [US01], regions: [LATAM]}",
    )
    issue = only_error(config)
    assert issue.line == line
    assert issue.message == "unknown region 'LATAM' (regions of the legal entities: APAC, EMEA, NA)"


def test_an_operation_glob_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "routes.yaml", 'operations: ["*"]', 'operations: ["sales_order.*"]')
    issue = only_error(config)
    assert issue.line == line
    assert issue.message.startswith("operation pattern 'sales_order.*' matches no operation")


def test_a_client_with_an_unknown_tier_or_legal_entity_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    le_line = edit(config, "policies/clients.yaml", "[DE01, FR01, GB01]", "[DE01, FR02, GB01]")
    tier_line = edit(
        config,
        "policies/clients.yaml",
        "rate_limit: standard                # a tier",
        "rate_limit: gold                # a tier",
    )
    issues = {
        (i.line, i.message)
        for i in configuration.check(config, env=DEMO_EVENT_SECRETS)
        if i.severity == "error"
    }
    assert issues == {
        (tier_line, "unknown rate-limit tier 'gold' (known: bulk, standard)"),
        (le_line, "unknown legal entity 'FR02' (known: CA01, DE01, FR01, GB01, SG01, US01)"),
    }


def test_a_client_that_may_act_for_no_legal_entity_is_warned_of(tmp_path: Path) -> None:
    """`legal_entities: []` is not "*": every request it makes names an entity it may not act
    for (403), which no error said. Loaded (an operator may mean to suspend it), with a warning
    saying so at its line."""
    config = config_copy(tmp_path)
    line = edit(config, "policies/clients.yaml", "[DE01, FR01, GB01]", "[]")
    warnings = [
        (i.line, i.message)
        for i in configuration.check(config, env=DEMO_EVENT_SECRETS)
        if i.severity == "warning"
    ]
    assert [w for w in warnings if w[0] == line] == [
        (
            line,
            "client crm-emea may act for no legal entity: every request it makes is refused "
            '(403); list the ones it acts for, or "*" for all',
        )
    ]


def test_an_unknown_name_among_thousands_lists_a_few_known_ones_not_all(tmp_path: Path) -> None:
    """With thousands of legal entities the error stays one readable line: the first known
    names, then how many more, not every one of them."""
    config = config_copy(tmp_path)
    codes = [f"X{n:04d}" for n in range(3000)]
    entities = "".join(
        f"  {code}: {{name: Entity {code}, region: EMEA, country: DE, currency: EUR}}\n"
        for code in codes
    )
    edit(config, "routes.yaml", "legal_entities:           #", "legal_entities:\n" + entities + "#")
    line = edit(config, "policies/clients.yaml", "[DE01, FR01, GB01]", "[DE01, FR02, GB01]")
    issue = only_error(config)
    known = sorted([*codes, "CA01", "DE01", "FR01", "GB01", "SG01", "US01"])
    assert issue.line == line
    assert issue.message.startswith(
        f"unknown legal entity 'FR02' (known: {', '.join(known[:KNOWN_SHOWN])}, and "
        f"{len(known) - KNOWN_SHOWN} more)"
    ), issue.message[:400]
    assert len(issue.message) < 400, len(issue.message)


def test_a_duplicate_client_id_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/clients.yaml", "- id: ops-admin", "- id: crm-demo")
    issue = only_error(config)
    assert (issue.line, issue.message) == (line, "duplicate client id 'crm-demo'")


def test_a_budget_for_an_unknown_backend_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/rate-limits.yaml", "  cloud: {", "  netsuite: {")
    errors = [
        i for i in configuration.check(config, env=DEMO_EVENT_SECRETS) if i.severity == "error"
    ]
    assert [str(i) for i in errors] == [
        f"policies/rate-limits.yaml:{line}: unknown backend 'netsuite' (known: cloud, legacy)"
    ]


def test_a_missing_value_map_for_a_routed_legal_entity_warns_but_loads(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, "backends/cloud.yaml", '    US01: {subsidiary: "2", currency: "1"}\n', "")
    issues = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert [(i.severity, i.file, i.line) for i in issues] == [
        (
            "warning",
            "backends/cloud.yaml",
            line_of(config, "backends/cloud.yaml", "legal_entities:"),
        )
    ]
    assert "US01 is routed here (routes.yaml, by rule wave-1)" in issues[0].message
    assert (
        "US01" not in configuration.load(config, env={}).backends["cloud"].value_maps.legal_entities
    )


def test_a_rule_shadowed_by_an_earlier_one_warns(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(
        config,
        "routes.yaml",
        "\ndefault_backend:",
        "  - id: us-orders\n    match: {legal_entities: [US01]}\n    backend: legacy\n"
        "\ndefault_backend:",
    )
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert issue.severity == "warning"
    assert issue.line == line_of(config, "routes.yaml", "- id: us-orders")
    assert issue.message.startswith("rule us-orders never decides anything")


def test_a_scope_no_operation_needs_warns(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    line = edit(config, "policies/clients.yaml", '["gateway:admin"]', '["gateway:admn"]')
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.line) == ("warning", line)
    assert "'gateway:admn' grants nothing" in issue.message


def add_partner_issuer(config: Path, algorithms: str = "[RS256]") -> Path:
    """Trust a second issuer whose key is `keys/partner.pem` (not written); that file's path."""
    auth = config / "policies/auth.yaml"
    auth.write_text(
        auth.read_text() + "  - name: partner\n    issuer: https://idp.partner.example\n"
        f"    audiences: [erp-gateway]\n    algorithms: {algorithms}\n"
        "    public_key_file: keys/partner.pem\n"
    )
    clients = config / "policies/clients.yaml"  # each client bound to an issuer, as two need
    clients.write_text(re.sub(r"(?m)^(  - id: .*)$", r"\1\n    issuer: demo", clients.read_text()))
    return config / "keys/partner.pem"


def add_partner_key(config: Path, pem: bytes, algorithms: str = "[RS256]") -> Path:
    """`add_partner_issuer`, its key file written with `pem`; that file's path."""
    key_file = add_partner_issuer(config, algorithms)
    key_file.parent.mkdir()
    key_file.write_bytes(pem)
    return key_file


def test_a_missing_public_key_file_is_an_error(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    add_partner_issuer(config)
    issue = only_error(config)
    assert issue.line == line_of(config, "policies/auth.yaml", "public_key_file: keys/")
    assert str(issue).startswith("policies/auth.yaml:")
    assert issue.message == "public key file 'keys/partner.pem' not found"


def test_cross_file_errors_stop_the_load(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, "routes.yaml", "backend: cloud ", "backend: clowd ")
    with pytest.raises(ConfigError, match=r"routes\.yaml:\d+: unknown backend 'clowd'"):
        configuration.load(config, env={})


def _public(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _certificate(
    key: PrivateKeyTypes,
    signer: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    not_after: dt.datetime = dt.datetime(2035, 1, 1, tzinfo=dt.UTC),
) -> bytes:
    """A certificate of `key`'s public key, signed by `signer` (self-signed by default)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.partner.example")])
    signing_key = signer or key
    assert isinstance(signing_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2015, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .sign(signing_key, hashes.SHA256())
    )
    return built.public_bytes(Encoding.PEM)


RSA_2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
P256 = ec.generate_private_key(ec.SECP256R1())
P384 = ec.generate_private_key(ec.SECP384R1())
NEEDS_RSA = "RS256 needs an RSA key of at least 2048 bits"


@pytest.mark.parametrize(
    ("pem", "algorithms", "said"),
    [
        (_public(P256), "[RS256]", f"holds an EC key on P-256, but {NEEDS_RSA}"),
        (_public(RSA_2048), "[ES256]", "holds an RSA key of 2048 bits, but ES256 needs an EC key "
         "on P-256"),
        (_public(P384), "[ES256]", "holds an EC key on P-384, but ES256 needs an EC key on P-256"),
        (_public(RSA_1024), "[RS256]", f"holds an RSA key of 1024 bits, but {NEEDS_RSA}"),
        (_public(RSA_2048), "[RS256, PS256, ES384]", "holds an RSA key of 2048 bits, but ES384 "
         "needs an EC key on P-384"),
        (_public(P256), "[ES256, EdDSA]", "holds an EC key on P-256, but EdDSA needs an "
         "Ed25519 or Ed448 key"),
        (RSA_2048.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()), "[RS256]",
         "holds a private key, which must stay with the issuer: give its public key "
         "(`openssl pkey -pubout -in <file>`)"),
        (_certificate(P256), "[RS256]", f"holds a certificate of an EC key on P-256, but "
         f"{NEEDS_RSA}"),
        (_certificate(RSA_1024, RSA_2048), "[RS256]", "holds a certificate of an RSA key of 1024 "
         f"bits, but {NEEDS_RSA}"),
        (_certificate(RSA_2048) + RSA_2048.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
         NoEncryption()), "[RS256]", "holds a private key, which must stay with the issuer: give "
         "its public key (`openssl pkey -pubout -in <file>`)"),
        (_certificate(RSA_2048)[:300] + b"\n-----END CERTIFICATE-----\n" + _public(RSA_2048),
         "[RS256]", "holds a certificate that cannot be read (damaged, or of an unknown key type)"),
        (b"ssh-rsa AAAAB3NzaC1yc2E partner\n", "[RS256]",
         "holds no PEM public key (-----BEGIN PUBLIC KEY-----)"),
    ],
    ids=["ec-for-rs256", "rsa-for-es256", "p384-for-es256", "rsa-1024", "rsa-for-es384-too",
         "ec-for-eddsa-too", "private-key", "certificate-of-ec", "certificate-of-rsa-1024",
         "certificate-and-its-private-key", "damaged-certificate", "not-pem"],
)  # fmt: skip
def test_a_public_key_file_that_cannot_verify_the_issuers_algorithms_is_an_error_at_its_line(
    tmp_path: Path, pem: bytes, algorithms: str, said: str
) -> None:
    # Each was accepted, and every token of the issuer then refused 401 with nothing said (a
    # key under 2048 bits verified them); a private key, certificate or non-PEM file was a
    # traceback at `gateway serve` and an unplaced "Valid PEM but no BEGIN PUBLIC KEY" at a reload.
    config = config_copy(tmp_path)
    add_partner_key(config, pem, algorithms)
    issue = only_error(config)
    assert (issue.file, issue.line) == (
        "policies/auth.yaml",
        line_of(config, "policies/auth.yaml", "public_key_file: keys/"),
    )
    assert issue.message == f"public key file 'keys/partner.pem' {said}"
    with pytest.raises(ConfigError, match=r"auth\.yaml:\d+: public key file 'keys/partner\.pem'"):
        configuration.load(config, env={})


@pytest.mark.parametrize(
    ("key", "algorithms"),
    [
        (RSA_2048, "[RS256, RS512, PS256]"),
        (P256, "[ES256]"),
        (P384, "[ES384]"),
        (ec.generate_private_key(ec.SECP521R1()), "[ES512]"),
        (ed25519.Ed25519PrivateKey.generate(), "[EdDSA]"),
    ],
    ids=["rsa", "p256", "p384", "p521", "ed25519"],
)
def test_a_public_key_file_that_verifies_every_algorithm_of_its_issuer_loads(
    tmp_path: Path, key: PrivateKeyTypes, algorithms: str
) -> None:
    config = config_copy(tmp_path)
    add_partner_key(config, _public(key), algorithms)
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []


@pytest.mark.parametrize(
    ("pem", "algorithms"),
    [
        (_certificate(RSA_2048), "[RS256, PS256]"),
        (_certificate(P384, RSA_2048), "[ES384]"),
        (_certificate(P256, RSA_2048) + _certificate(RSA_2048), "[ES256]"),
    ],
    ids=["rsa", "p384", "chain-leaf-first"],
)
def test_a_certificate_of_a_key_that_verifies_every_algorithm_of_its_issuer_loads(
    tmp_path: Path, pem: bytes, algorithms: str
) -> None:
    # It was refused: most identity providers publish their signing key only as a certificate,
    # and the operator had to extract the key with openssl. Of a chain, the first (the leaf)
    # counts: the CA's RSA key after it would not verify ES256.
    config = config_copy(tmp_path)
    add_partner_key(config, pem, algorithms)
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []
    configuration.load(config, env={})


def test_a_certificate_whose_validity_has_ended_warns_at_its_line(tmp_path: Path) -> None:
    # Token verification does not depend on the certificate's dates, so its key still works;
    # but an identity provider whose certificate expired has most likely rotated its key.
    config = config_copy(tmp_path)
    expired = _certificate(RSA_2048, not_after=dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
    add_partner_key(config, expired)
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.file, issue.line) == (
        "warning",
        "policies/auth.yaml",
        line_of(config, "policies/auth.yaml", "public_key_file: keys/"),
    )
    assert issue.message == (
        "public key file 'keys/partner.pem' holds a certificate that expired on 2024-03-01: its "
        "key still verifies tokens, but the issuer has probably rotated to a new key"
    )
    configuration.load(config, env={})


def add_jwks_issuer(config: Path, url: str) -> int:
    """Trust a second issuer whose keys are at `url`; the line of its `jwks_url`."""
    key_file = add_partner_issuer(config)
    edit(
        config,
        "policies/auth.yaml",
        "    public_key_file: keys/partner.pem\n",
        f"    jwks_url: {url}\n",
    )
    assert not key_file.exists()
    return line_of(config, "policies/auth.yaml", f"jwks_url: {url}")


@pytest.mark.parametrize("url", ["keycloak/realms/erp/certs", "ftp://idp.partner.example/jwks"])
def test_a_jwks_url_that_is_no_http_url_is_an_error_at_its_line(tmp_path: Path, url: str) -> None:
    # It was accepted; each fetch then failed, and every token of the issuer was refused 401.
    config = config_copy(tmp_path)
    line = add_jwks_issuer(config, url)
    issue = only_error(config)
    assert (issue.file, issue.line) == ("policies/auth.yaml", line)
    assert issue.message.startswith("issuers[1].jwks_url: ") and url in issue.message


@pytest.mark.parametrize(
    "url",
    ["http://idp.partner.example/jwks", "http://10.0.0.5:8080/certs", "http://127.0.0.1.nip.io/k"],
)
def test_a_jwks_url_of_plain_http_to_another_host_warns_but_loads(tmp_path: Path, url: str) -> None:
    # Anyone on the path could swap the keys fetched and sign tokens the gateway accepts; it was
    # accepted without a word.
    config = config_copy(tmp_path)
    line = add_jwks_issuer(config, url)
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.file, issue.line) == ("warning", "policies/auth.yaml", line)
    host = url.split("/")[2].split(":")[0]
    assert issue.message == (
        f"issuer partner fetches its keys over plain http from {host}: anyone on the way can "
        "swap them and sign tokens the gateway accepts; use https (plain http only to a "
        "loopback address)"
    )
    configuration.load(config, env={})


@pytest.mark.parametrize(
    "url",
    [
        "https://idp.partner.example/jwks",
        "http://127.0.0.1:8081/jwks",
        "http://127.1.2.3/jwks",
        "http://localhost:8081/jwks",
        "http://[::1]:8081/jwks",
    ],
)
def test_a_jwks_url_of_https_or_to_a_loopback_address_is_no_issue(tmp_path: Path, url: str) -> None:
    config = config_copy(tmp_path)
    add_jwks_issuer(config, url)
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []


@pytest.mark.parametrize(
    ("count", "ends"),
    [(0, "none"), (KNOWN_SHOWN, f"N{KNOWN_SHOWN - 1:03d}"), (KNOWN_SHOWN + 1, "and 1 more")],
)
def test_a_list_of_known_names_is_cut_only_past_its_length(count: int, ends: str) -> None:
    assert some_of(f"N{n:03d}" for n in range(count)).endswith(ends)


# -- plain http to another host: ERP base URLs and webhook URLs ------------------------------

ERP_CREDENTIALS = {
    "legacy": "its SAP user and password (Basic auth)",
    "cloud": "its access tokens (and the client assertions that get them)",
}


@pytest.mark.parametrize(
    ("backend", "url"),
    [
        ("legacy", "http://sap.corp.example:8000"),
        ("cloud", "http://10.0.0.7:8443"),
        ("legacy", "http://127.0.0.1.nip.io:9101"),
    ],
)
def test_an_erp_base_url_of_plain_http_to_another_host_warns_at_its_line_but_loads(
    tmp_path: Path, backend: str, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The gateway logs in to the ERP over it (SAP's password in every request, NetSuite's
    # tokens) and sends customers' orders: it was accepted without a word, where a jwks_url
    # of plain http warned.
    config = config_copy(tmp_path)
    file = f"backends/{backend}.yaml"
    env = {**DEMO_EVENT_SECRETS, f"GATEWAY_{backend.upper()}_URL": url}
    (issue,) = configuration.check(config, env=env)
    assert (issue.severity, issue.file, issue.line) == (
        "warning",
        file,
        line_of(config, file, "base_url: "),
    )
    host = url.split("/")[2].rsplit(":", 1)[0]
    assert issue.message == (
        f"backend {backend} sends {ERP_CREDENTIALS[backend]} and the orders over plain http "
        f"to {host}: anyone on the way can read them and act as the gateway in the ERP; use "
        "https (plain http only to a loopback address)"
    )
    with caplog.at_level("WARNING", logger="gateway.config"):
        configuration.load(config, env=env)
    assert [r.getMessage() for r in caplog.records] == [str(issue)]


def test_a_netsuite_base_url_of_plain_http_with_token_based_auth_warns(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(
        config,
        "backends/cloud.yaml",
        "auth:                             #",
        "auth:\n  method: token_based\n  account_id: '1234567_SB1'\n"
        "  consumer_key_env: K\n  consumer_secret_env: KS\n  token_id_env: T\n"
        "  token_secret_env: TS\nold_auth:                             #",
    )
    text = (config / "backends/cloud.yaml").read_text()
    start = text.index("old_auth:")
    end = text.index("# Token-based", start)
    (config / "backends/cloud.yaml").write_text(text[:start] + text[end:])
    (issue,) = configuration.check(
        config, env={**DEMO_EVENT_SECRETS, "GATEWAY_CLOUD_URL": "http://ns.corp.example"}
    )
    assert issue.severity == "warning" and issue.file == "backends/cloud.yaml"
    assert issue.message.startswith(
        "backend cloud sends its signed requests (their JSON bodies unsigned) and the orders "
        "over plain http to ns.corp.example: "
    ), issue.message


@pytest.mark.parametrize(
    "url",
    [
        "https://sap.corp.example:8000",
        "http://127.0.0.1:9101",
        "http://127.9.9.9:9101",
        "http://localhost:9101",
        "http://[::1]:9101",
    ],
)
def test_an_erp_base_url_of_https_or_to_a_loopback_address_is_no_issue(
    tmp_path: Path, url: str
) -> None:
    config = config_copy(tmp_path)
    env = {**DEMO_EVENT_SECRETS, "GATEWAY_LEGACY_URL": url, "GATEWAY_CLOUD_URL": url}
    assert configuration.check(config, env=env) == []


DEMO_HOOK = "url: http://127.0.0.1:9200/webhooks"


@pytest.mark.parametrize(
    "url", ["http://crm.partner.example/webhooks", "http://192.168.4.20:9200/hooks"]
)
def test_a_webhook_url_of_plain_http_to_another_host_warns_at_its_line_but_loads(
    tmp_path: Path, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Event payloads carry customers' orders, shipments and invoices; they were sent there
    # over plain http without a word.
    config = config_copy(tmp_path)
    line = edit(config, "policies/subscriptions.yaml", DEMO_HOOK, f"url: {url}")
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.file, issue.line) == (
        "warning",
        "policies/subscriptions.yaml",
        line,
    )
    host = url.split("/")[2].split(":")[0]
    assert issue.message == (
        f"subscription crm-demo-hook sends its events (customers' orders, shipments and "
        f"invoices) over plain http to {host}: anyone on the way can read them; use https "
        "(plain http only to a loopback address)"
    )
    with caplog.at_level("WARNING", logger="gateway.config"):
        configuration.load(config, env=DEMO_EVENT_SECRETS)
    assert [r.getMessage() for r in caplog.records] == [str(issue)]


@pytest.mark.parametrize(
    "url",
    ["https://crm.partner.example/webhooks", "http://localhost:9200/h", "http://[::1]:9200/h"],
)
def test_a_webhook_url_of_https_or_to_a_loopback_address_is_no_issue(
    tmp_path: Path, url: str
) -> None:
    config = config_copy(tmp_path)
    edit(config, "policies/subscriptions.yaml", DEMO_HOOK, f"url: {url}")
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []


# -- a backend's timeout within the request's ------------------------------------------------

OPERATIONS = "policies/operations.yaml"
LEGACY = "backends/legacy.yaml"
LEGACY_TIMEOUT = "timeout_s: 5  "  # the shipped legacy backend's, as written


def set_request_timeout(config: Path, seconds: str) -> int:
    """policies/operations.yaml setting `requests.timeout_s`; the line it sets it at."""
    (config / OPERATIONS).write_text(f"requests:\n  timeout_s: {seconds}\n")
    return line_of(config, OPERATIONS, "timeout_s:")


@pytest.mark.parametrize(("backend_s", "request_s"), [("20", "10"), ("10", "10")])
def test_a_backend_timeout_not_below_the_request_timeout_warns_at_both_lines_but_loads(
    tmp_path: Path, backend_s: str, request_s: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The request's deadline always ends the ERP interaction first (the ERP is called after
    # the request arrived), so the backend's timeout_s never fires; it was accepted silently.
    config = config_copy(tmp_path)
    line = edit(config, LEGACY, LEGACY_TIMEOUT, f"timeout_s: {backend_s} ")
    request_line = set_request_timeout(config, request_s)
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.file, issue.line) == ("warning", LEGACY, line)
    assert issue.message == (
        f"backend legacy's timeout_s ({backend_s} s) is not below the request timeout "
        f"(requests.timeout_s: {request_s} at {OPERATIONS}:{request_line}): the request's "
        "deadline always comes first, so this timeout never fires and the ERP, its retries "
        f"included, gets only what is left of the request's {request_s} s; lower timeout_s "
        f"below {request_s} s, leaving time for the gateway's own steps, or raise "
        f"requests.timeout_s above {backend_s} s"
    )
    # Logged as every other warning where the configuration is loaded to serve: at start-up
    # and on each reload (both load it so).
    with caplog.at_level("WARNING", logger="gateway.config"):
        loaded = configuration.load(config, env=DEMO_EVENT_SECRETS, serving=True)
    assert loaded.backends["legacy"].timeout_s == float(backend_s)
    assert [r.getMessage() for r in caplog.records] == [str(issue)]


def test_a_backend_timeout_is_held_against_the_default_request_timeout_where_none_is_set(
    tmp_path: Path,
) -> None:
    config = config_copy(tmp_path)
    edit(config, LEGACY, LEGACY_TIMEOUT, "timeout_s: 20 ")
    (absent,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert "(15 s by default: there is no policies/operations.yaml)" in absent.message
    (config / OPERATIONS).write_text("journal:\n  enabled: true\n")
    (unset,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert "(15 s by default: policies/operations.yaml sets no requests.timeout_s)" in (
        unset.message
    )


def test_a_backend_timeout_left_to_its_default_is_named_so(tmp_path: Path) -> None:
    config = config_copy(tmp_path)
    edit(config, LEGACY, LEGACY_TIMEOUT, "")
    set_request_timeout(config, "8")
    (issue,) = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert (issue.severity, issue.file) == ("warning", LEGACY)
    assert issue.message.startswith("backend legacy's timeout_s (10 s by default) is not below")


def test_backend_timeouts_below_the_request_timeout_are_no_issue(tmp_path: Path) -> None:
    # The shipped backends (5 s each) against the default 15 s, and a request timeout just
    # above them; at theirs, each is warned of.
    config = config_copy(tmp_path)
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []
    set_request_timeout(config, "5.5")
    assert configuration.check(config, env=DEMO_EVENT_SECRETS) == []
    set_request_timeout(config, "5")
    issues = configuration.check(config, env=DEMO_EVENT_SECRETS)
    assert [(i.severity, i.file) for i in issues] == [
        ("warning", "backends/cloud.yaml"),
        ("warning", LEGACY),
    ]
