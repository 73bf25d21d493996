"""Token attacks (RFC 8725, RFC 6750) with real RSA, EC and HMAC keys: every one is a 401
that does not reveal which check failed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.config.auth import AuthPolicy
from gateway.config.issues import ConfigError
from gateway.demo import demo_issuer, mint_token
from gateway.domain.errors import Code, GatewayError
from gateway.pipeline.auth import (
    DEV_DEMO_SECRET,
    Authenticator,
    AuthFailure,
    IssuerVerifier,
    Unauthenticated,
    build_authenticator,
)
from gateway.pipeline.keys import UNKNOWN_KID_COOLDOWN_S, JwksKeys
from tests.servers import serve_app

HMAC_SECRET = "unit-test-secret-of-enough-length-0123456789"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_ISS, EC_ISS, HMAC_ISS = "https://idp.test/rsa", "https://idp.test/ec", "https://idp.test/hmac"
AUDIENCE = "erp-gateway"


def _jwks_app(key: rsa.RSAPrivateKey, kid: str, hits: list[str]) -> Starlette:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})

    async def keys(request: Request) -> JSONResponse:
        hits.append(request.url.path)
        return JSONResponse({"keys": [jwk]})

    return Starlette(routes=[Route("/jwks.json", keys)])


@pytest.fixture(scope="module")
def idp_hits() -> list[str]:
    return []


@pytest.fixture(scope="module")
def attacker_hits() -> list[str]:
    return []


@pytest.fixture(scope="module")
def idp_url(idp_hits: list[str]) -> Iterator[str]:
    with serve_app(_jwks_app(RSA_KEY, "rsa-1", idp_hits)) as url:
        yield url


@pytest.fixture(scope="module")
def attacker_url(attacker_hits: list[str]) -> Iterator[str]:
    with serve_app(_jwks_app(ATTACKER_KEY, "attacker", attacker_hits)) as url:
        yield url


@pytest.fixture(scope="module")
def policy(idp_url: str, tmp_path_factory: pytest.TempPathFactory) -> AuthPolicy:
    pem = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_file = tmp_path_factory.mktemp("keys") / "ec.pem"
    key_file.write_bytes(pem)
    common = {"audiences": [AUDIENCE], "leeway_s": 30, "client_claim": "azp"}
    return AuthPolicy.model_validate(
        {
            "issuers": [
                {"name": "rsa", "issuer": RSA_ISS, "algorithms": ["RS256"],
                 "jwks_url": f"{idp_url}/jwks.json", **common},
                {"name": "ec", "issuer": EC_ISS, "algorithms": ["ES256"],
                 "public_key_file": str(key_file), **common},
                {"name": "hmac", "issuer": HMAC_ISS, "algorithms": ["HS256"],
                 "secret_env": "TEST_SECRET", **common},
            ]
        }
    )  # fmt: skip


@pytest.fixture
def authenticator(policy: AuthPolicy) -> Authenticator:
    return build_authenticator(policy, Path("."), {"TEST_SECRET": HMAC_SECRET})


def _claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "crm-demo",
        "azp": "crm-demo",
        "iat": now,
        "exp": now + 300,
        "scope": "customers:read",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


SIGNERS: dict[str, tuple[str, Any, str, dict[str, Any]]] = {
    "rsa": (RSA_ISS, RSA_KEY, "RS256", {"kid": "rsa-1"}),
    "ec": (EC_ISS, EC_KEY, "ES256", {}),
    "hmac": (HMAC_ISS, HMAC_SECRET, "HS256", {}),
}


def _token(family: str, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    issuer, key, alg, base_headers = SIGNERS[family]
    all_headers = {**base_headers, **(headers or {})}
    return jwt.encode(_claims(issuer, **claims), key, algorithm=alg, headers=all_headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(family: str) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(_claims(SIGNERS[family][0])).encode())}."


def _hs256_with_rsa_public_key() -> str:
    """Algorithm confusion: HS256 'signed' with the RSA issuer's public key as the secret."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(json.dumps(_claims(RSA_ISS)).encode())
    signature = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _tampered(family: str) -> str:
    head, body, signature = _token(family).split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["azp"] = "someone-else"
    return f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"


def _jku(attacker_url: str) -> str:
    headers = {"jku": f"{attacker_url}/jwks.json", "kid": "attacker"}
    return jwt.encode(_claims(RSA_ISS), ATTACKER_KEY, algorithm="RS256", headers=headers)


ATTACKS: dict[str, Callable[[str, str], str]] = {
    "alg none": lambda family, _: _unsigned(family),
    "tampered payload": lambda family, _: _tampered(family),
    "wrong iss": lambda family, _: _token(family, iss="https://evil.example"),
    "wrong aud": lambda family, _: _token(family, aud="someone-else"),
    "expired beyond leeway": lambda family, _: _token(family, exp=int(time.time()) - 120),
    "nbf in the future": lambda family, _: _token(family, nbf=int(time.time()) + 600),
    "missing exp": lambda family, _: _token(family, exp=None),
    "missing iat": lambda family, _: _token(family, iat=None),
    "missing sub": lambda family, _: _token(family, sub=None),
    "crit header": lambda family, _: _token(family, headers={"crit": ["exp"]}),
    "typed for another purpose": lambda family, _: _token(family, headers={"typ": "secevent+jwt"}),
    "over 8 KiB": lambda family, _: _token(family, padding="x" * 8300),
    "garbage": lambda family, _: "garbage.garbage.garbage",
}
SPECIFIC: dict[str, Callable[[str], str]] = {
    "HS256 signed with the RSA public key": lambda _: _hs256_with_rsa_public_key(),
    "unknown kid": lambda _: _token("rsa", headers={"kid": "rsa-unknown"}),
    "jku pointing elsewhere": _jku,
    "RS256 token for the HMAC issuer": lambda _: jwt.encode(
        _claims(HMAC_ISS), RSA_KEY, algorithm="RS256"
    ),
}


async def _rejection(authenticator: Authenticator, token: str) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        await authenticator.authenticate(f"Bearer {token}")
    return info.value


@pytest.mark.parametrize("family", list(SIGNERS))
async def test_a_valid_token_of_each_issuer_is_accepted(
    authenticator: Authenticator, family: str
) -> None:
    principal = await authenticator.authenticate(f"Bearer {_token(family)}")
    assert principal.client_id == "crm-demo"
    assert principal.scopes == {"customers:read"}


TWO_SCOPES = {"customers:read", "invoices:read"}


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": ""}, set()),
        ({"scope": " "}, set()),
        ({"scope": None, "scp": []}, set()),
        ({"scope": None, "scp": ["customers:read", "invoices:read"]}, TWO_SCOPES),
        ({"scope": None, "scp": "customers:read invoices:read"}, TWO_SCOPES),
        ({"scope": "customers:read  invoices:read"}, TWO_SCOPES),
    ],
)
async def test_a_present_scope_claim_grants_only_the_scopes_it_names(
    authenticator: Authenticator, claims: dict[str, Any], scopes: set[str]
) -> None:
    principal = await authenticator.authenticate(f"Bearer {_token('hmac', **claims)}")
    assert principal.scopes == scopes


async def test_a_token_without_a_scope_claim_leaves_the_scopes_to_the_client_policy(
    authenticator: Authenticator,
) -> None:
    principal = await authenticator.authenticate(f"Bearer {_token('hmac', scope=None)}")
    assert principal.scopes is None


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": 7},
        {"scope": ["customers:read", None]},
        {"scope": None, "scp": ["customers:read", 1]},
        {"scope": None, "scp": {"customers:read": True}},
        {"scope": None, "scp": True},
    ],
)
async def test_a_scope_claim_neither_a_string_nor_a_list_of_strings_is_the_generic_401(
    authenticator: Authenticator, claims: dict[str, Any]
) -> None:
    error = await _rejection(authenticator, _token("hmac", **claims))
    reference = await _rejection(authenticator, "garbage")
    assert (error.code, error.detail, error.headers) == (
        reference.code,
        reference.detail,
        reference.headers,
    )


@pytest.mark.parametrize("family", list(SIGNERS))
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_each_attack_is_the_same_generic_401(
    authenticator: Authenticator, attacker_url: str, family: str, attack: str
) -> None:
    error = await _rejection(authenticator, ATTACKS[attack](family, attacker_url))
    reference = await _rejection(authenticator, "garbage")
    assert error.code is Code.UNAUTHORIZED
    assert (error.detail, error.headers) == (reference.detail, reference.headers)
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="gateway", error="invalid_token"'


@pytest.mark.parametrize("attack", list(SPECIFIC))
async def test_key_confusion_and_key_injection_are_the_same_generic_401(
    authenticator: Authenticator, attacker_url: str, attacker_hits: list[str], attack: str
) -> None:
    error = await _rejection(authenticator, SPECIFIC[attack](attacker_url))
    reference = await _rejection(authenticator, "garbage")
    assert (error.code, error.detail, error.headers) == (
        reference.code,
        reference.detail,
        reference.headers,
    )
    assert attacker_hits == []  # a key URL inside a token is never fetched


@pytest.mark.parametrize("authorization", [None, "", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_no_bearer_credentials_get_a_bare_challenge(
    authenticator: Authenticator, authorization: str | None
) -> None:
    with pytest.raises(GatewayError) as info:
        await authenticator.authenticate(authorization)
    assert info.value.code is Code.UNAUTHORIZED
    assert info.value.headers["WWW-Authenticate"] == 'Bearer realm="gateway"'


async def test_an_issuer_whose_secret_is_unset_is_off(policy: AuthPolicy) -> None:
    authenticator = build_authenticator(policy, Path("."), {})
    assert HMAC_ISS not in authenticator.issuers
    await _rejection(authenticator, _token("hmac"))


def _hmac_policy(algorithm: str) -> AuthPolicy:
    issuer = {
        "name": "hmac",
        "issuer": HMAC_ISS,
        "audiences": [AUDIENCE],
        "algorithms": [algorithm],
        "secret_env": "TEST_SECRET",
    }
    return AuthPolicy.model_validate({"issuers": [issuer]})  # fmt: skip


def test_an_hmac_issuer_with_the_demo_secret_published_in_the_repo_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        build_authenticator(_hmac_policy("HS256"), Path("."), {"TEST_SECRET": DEV_DEMO_SECRET})
    (issue,) = info.value.issues
    assert issue.file == "policies/auth.yaml"
    assert "TEST_SECRET" in issue.message and "published" in issue.message


@pytest.mark.parametrize(("algorithm", "needed"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
async def test_an_hmac_secret_shorter_than_its_hash_is_refused(algorithm: str, needed: int) -> None:
    with pytest.raises(ConfigError) as info:
        build_authenticator(_hmac_policy(algorithm), Path("."), {"TEST_SECRET": "k" * (needed - 1)})
    (issue,) = info.value.issues
    assert "TEST_SECRET" in issue.message and f"at least {needed}" in issue.message
    long_enough = "k" * needed
    authenticator = build_authenticator(
        _hmac_policy(algorithm), Path("."), {"TEST_SECRET": long_enough}
    )
    token = jwt.encode(_claims(HMAC_ISS), long_enough, algorithm=algorithm)
    assert (await authenticator.authenticate(f"Bearer {token}")).client_id == "crm-demo"


@pytest.mark.parametrize(
    ("pem", "said"),
    [
        (
            RSA_KEY.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "holds an RSA key of 2048 bits, but ES256 needs an EC key on P-256",
        ),
        (None, "not found"),
    ],
    ids=["rsa-for-es256", "missing"],
)
def test_a_public_key_file_that_cannot_verify_its_issuers_tokens_is_a_config_error(
    tmp_path: Path, pem: bytes | None, said: str
) -> None:
    # `gateway check` reports it at its line; read again when the runtime is built (the file may
    # have changed since), it was served (every token refused) or a FileNotFoundError traceback,
    # then said without a line: it is said at the line that names the file, as the check says it.
    if pem is not None:
        (tmp_path / "idp.pem").write_bytes(pem)
    auth = (
        "issuers:\n"
        f"  - {{name: hmac, issuer: {HMAC_ISS}, audiences: [{AUDIENCE}], algorithms: [HS256],\n"
        "     secret_env: TEST_SECRET}\n"
        "  - name: ec\n"
        f"    issuer: {EC_ISS}\n"
        f"    audiences: [{AUDIENCE}]\n"
        "    algorithms: [ES256]\n"
        "    public_key_file: idp.pem\n"
    )
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "auth.yaml").write_text(auth)
    policy = AuthPolicy.model_validate(yaml.safe_load(auth))
    with pytest.raises(ConfigError) as info:
        build_authenticator(policy, tmp_path, {})
    (issue,) = info.value.issues
    assert str(issue) == f"policies/auth.yaml:8: issuer ec: public key file 'idp.pem' {said}"


def _certificate(key: ec.EllipticCurvePrivateKey, signer: Any, not_after: dt.datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.test")])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2015, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .sign(signer, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


async def test_a_public_key_file_holding_a_certificate_chain_verifies_with_the_leafs_key(
    tmp_path: Path,
) -> None:
    # A certificate was refused (the operator had to extract its key with openssl). The leaf's
    # key verifies, even when the certificate has expired (JWT verification does not look at
    # its dates: `gateway check` warns); the key of the CA after it does not.
    ca_key = ec.generate_private_key(ec.SECP256R1())
    expired = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    chain = _certificate(EC_KEY, ca_key, expired) + _certificate(ca_key, ca_key, expired)
    (tmp_path / "idp.pem").write_bytes(chain)
    issuer = {"name": "ec", "issuer": EC_ISS, "audiences": [AUDIENCE], "algorithms": ["ES256"],
              "public_key_file": "idp.pem", "client_claim": "azp"}  # fmt: skip
    authenticator = build_authenticator(
        AuthPolicy.model_validate({"issuers": [issuer]}), tmp_path, {}
    )
    principal = await authenticator.authenticate(f"Bearer {_token('ec')}")
    assert principal.client_id == "crm-demo"
    by_ca = jwt.encode(_claims(EC_ISS), ca_key, algorithm="ES256")
    assert (await _rejection(authenticator, by_ca)).code is Code.UNAUTHORIZED


async def test_only_the_demo_trusts_the_published_dev_secret() -> None:
    env = {"TEST_SECRET": DEV_DEMO_SECRET}
    demo = build_authenticator(_hmac_policy("HS256"), Path("."), env, trust_dev_secret=True)
    token = jwt.encode(_claims(HMAC_ISS), DEV_DEMO_SECRET, algorithm="HS256")
    assert (await demo.authenticate(f"Bearer {token}")).client_id == "crm-demo"


class _CountingKey:
    """A key source that records every lookup: a token refused before one never reached it."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.lookups = 0

    async def key_for(self, kid: str | None, algorithm: str) -> Any:
        self.lookups += 1
        return self.key


async def test_an_algorithm_outside_the_issuers_allow_list_is_refused_before_any_key_lookup() -> (
    None
):
    # The gateway's own check, not PyJWT's later one: a token whose `alg` the issuer does not
    # list never reaches key selection (with a JWKS, that would be a fetch an attacker triggers).
    config = AuthPolicy.model_validate(
        {
            "issuers": [
                {
                    "name": "hmac",
                    "issuer": HMAC_ISS,
                    "audiences": [AUDIENCE],
                    "algorithms": ["HS256"],
                    "secret_env": "UNUSED",
                }
            ]
        }
    ).issuers[0]
    secret = HMAC_SECRET * 2  # long enough for HS384 too: only the allow-list may refuse it
    keys = _CountingKey(secret.encode())
    authenticator = Authenticator({HMAC_ISS: IssuerVerifier(config, keys)})
    now = int(time.time())
    claims = {"iss": HMAC_ISS, "aud": AUDIENCE, "sub": "c", "azp": "c", "iat": now, "exp": now + 60}
    allowed = jwt.encode(claims, secret, algorithm="HS256")
    assert (await authenticator.authenticate(f"Bearer {allowed}")).client_id == "c"
    assert keys.lookups == 1
    outside = jwt.encode(claims, secret, algorithm="HS384")
    with pytest.raises(GatewayError) as refused:
        await authenticator.authenticate(f"Bearer {outside}")
    assert refused.value.code is Code.UNAUTHORIZED
    assert keys.lookups == 1


async def test_a_jwks_of_one_key_without_kid_verifies_a_token_without_kid() -> None:
    """keys.py: "No kid: acceptable only when the issuer publishes exactly one key". An issuer
    that publishes exactly one key and names it with no `kid` (RFC 7517: `kid` is OPTIONAL)
    has it dropped by `fetch_jwks`, so the set stays empty and every token is refused."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    jwk.update({"use": "sig", "alg": "RS256"})

    async def keys(request: Request) -> JSONResponse:
        return JSONResponse({"keys": [jwk]})

    with serve_app(Starlette(routes=[Route("/jwks.json", keys)])) as url:
        source = JwksKeys(f"{url}/jwks.json", ["RS256"])
        assert await source.key_for(None, "RS256") is not None


# RFC 7517 4.2-4.4: a JWK's `use`, `key_ops` and `alg` say what it may do; RFC 7517 4.5: keys of
# different types may share a `kid`. Each JWKS below is served over a real socket.
JWKS_DOCUMENTS: dict[str, dict[str, Any]] = {}
EC_SIGNER = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    async def document(request: Request) -> JSONResponse:
        return JSONResponse(JWKS_DOCUMENTS[request.path_params["name"]])

    with serve_app(Starlette(routes=[Route("/{name}.json", document)])) as url:
        yield url


def _jwk(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **members: Any) -> Any:
    """The public JWK of `private_key`, with `members` (a None one left out)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private_key.public_key()))
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def _jwks_authenticator(
    url: str, keys: list[dict[str, Any]], algorithms: list[str]
) -> Authenticator:
    name = f"jwks-{len(JWKS_DOCUMENTS)}"
    JWKS_DOCUMENTS[name] = {"keys": keys}
    issuer = {"name": "idp", "issuer": RSA_ISS, "audiences": [AUDIENCE],
              "algorithms": algorithms, "jwks_url": f"{url}/{name}.json"}  # fmt: skip
    return build_authenticator(AuthPolicy.model_validate({"issuers": [issuer]}), Path("."), {})


def _signed(private_key: Any, algorithm: str, kid: str | None) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(_claims(RSA_ISS), private_key, algorithm=algorithm, headers=headers)


async def _accepts(authenticator: Authenticator, token: str) -> bool:
    try:
        await authenticator.authenticate(f"Bearer {token}")
    except GatewayError as error:
        assert error.headers["WWW-Authenticate"] == 'Bearer realm="gateway", error="invalid_token"'
        return False
    return True


@pytest.mark.parametrize(
    ("members", "accepted"),
    [({}, True), ({"use": "sig"}, True), ({"key_ops": ["verify"]}, True),
     ({"use": "sig", "key_ops": ["sign", "verify"]}, True),
     ({"use": "enc"}, False), ({"key_ops": ["encrypt", "wrapKey"]}, False),
     ({"key_ops": ["sign"]}, False), ({"key_ops": "verify"}, False),
     ({"use": "sig", "key_ops": ["encrypt"]}, False)],
)  # fmt: skip
async def test_a_jwks_key_not_meant_for_verifying_signatures_verifies_none(
    jwks_url: str, members: dict[str, Any], accepted: bool
) -> None:
    authenticator = _jwks_authenticator(jwks_url, [_jwk(RSA_KEY, kid="k1", **members)], ["RS256"])
    assert await _accepts(authenticator, _signed(RSA_KEY, "RS256", "k1")) is accepted


@pytest.mark.parametrize(
    ("key_alg", "token_alg", "accepted"),
    [("RS256", "RS256", True), ("RS256", "PS256", False), ("PS256", "RS256", False),
     (None, "RS256", True), (None, "PS256", True)],
)  # fmt: skip
async def test_a_jwks_key_naming_its_alg_verifies_only_tokens_of_that_alg(
    jwks_url: str, key_alg: str | None, token_alg: str, accepted: bool
) -> None:
    authenticator = _jwks_authenticator(
        jwks_url, [_jwk(RSA_KEY, kid="k1", alg=key_alg)], ["RS256", "PS256"]
    )
    assert await _accepts(authenticator, _signed(RSA_KEY, token_alg, "k1")) is accepted


SHORT_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # signing with it
async def test_a_jwks_rsa_key_shorter_than_2048_bits_verifies_none(jwks_url: str) -> None:
    # RFC 7518 3.3: RS* and PS* keys are 2048 bits or more (PyJWT only warns); a
    # `public_key_file` that short is a config error, and a JWKS key that short no key.
    authenticator = _jwks_authenticator(
        jwks_url, [_jwk(SHORT_RSA_KEY, kid="short"), _jwk(RSA_KEY, kid="k1")], ["RS256"]
    )
    assert await _accepts(authenticator, _signed(RSA_KEY, "RS256", "k1")) is True
    assert await _accepts(authenticator, _signed(SHORT_RSA_KEY, "RS256", "short")) is False
    assert await _accepts(authenticator, _signed(SHORT_RSA_KEY, "RS256", None)) is False


SHARED_KID_SETS: dict[str, tuple[list[dict[str, Any]], list[tuple[Any, str, bool]]]] = {
    "EC then RSA": (
        [_jwk(EC_SIGNER, kid="k"), _jwk(RSA_KEY, kid="k")],
        [(RSA_KEY, "RS256", True), (EC_SIGNER, "ES256", True)],
    ),
    "RSA then EC": (
        [_jwk(RSA_KEY, kid="k"), _jwk(EC_SIGNER, kid="k")],
        [(RSA_KEY, "RS256", True), (EC_SIGNER, "ES256", True)],
    ),
    "one key listed twice": (
        [_jwk(RSA_KEY, kid="k"), _jwk(RSA_KEY, kid="k", use="sig")],
        [(RSA_KEY, "RS256", True)],
    ),
    "two RSA signing keys: which one the kid names is anybody's guess": (
        [_jwk(RSA_KEY, kid="k"), _jwk(ATTACKER_KEY, kid="k")],
        [(RSA_KEY, "RS256", False), (ATTACKER_KEY, "RS256", False)],
    ),
    "signing key then encryption key": (
        [_jwk(RSA_KEY, kid="k", use="sig"), _jwk(ATTACKER_KEY, kid="k", use="enc")],
        [(RSA_KEY, "RS256", True), (ATTACKER_KEY, "RS256", False)],
    ),
}


@pytest.mark.parametrize("key_set", list(SHARED_KID_SETS))
async def test_keys_sharing_a_kid_are_told_apart_by_type_and_use(
    jwks_url: str, key_set: str
) -> None:
    keys, tokens = SHARED_KID_SETS[key_set]
    authenticator = _jwks_authenticator(jwks_url, keys, ["RS256", "ES256"])
    for private_key, algorithm, accepted in tokens:
        token = _signed(private_key, algorithm, "k")
        assert await _accepts(authenticator, token) is accepted, algorithm


KIDLESS_SETS: dict[str, tuple[list[dict[str, Any]], bool]] = {
    "one signing key, one encryption key, neither with a kid": (
        [_jwk(RSA_KEY, use="sig"), _jwk(ATTACKER_KEY, use="enc")],
        True,
    ),
    "one RSA key and one EC key": ([_jwk(RSA_KEY, kid="r"), _jwk(EC_SIGNER, kid="e")], True),
    "one key with a kid": ([_jwk(RSA_KEY, kid="r")], True),
    "two RSA signing keys": ([_jwk(RSA_KEY, kid="r"), _jwk(ATTACKER_KEY, kid="a")], False),
    "two RSA signing keys without kid": ([_jwk(RSA_KEY), _jwk(ATTACKER_KEY)], False),
}


@pytest.mark.parametrize("key_set", list(KIDLESS_SETS))
async def test_a_token_without_kid_is_verified_by_the_one_key_that_could_verify_it(
    jwks_url: str, key_set: str
) -> None:
    keys, accepted = KIDLESS_SETS[key_set]
    authenticator = _jwks_authenticator(jwks_url, keys, ["RS256", "ES256"])
    assert await _accepts(authenticator, _signed(RSA_KEY, "RS256", None)) is accepted


KEY_1, KEY_2 = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "12")


class _FakeFetch:
    """A JWKS that an IdP serves, or fails to."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False
        self.keys: list[dict[str, Any]] = [_jwk(KEY_1, kid="k1")]

    async def __call__(self, url: str) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise OSError("IdP down")
        return {"keys": list(self.keys)}


async def test_a_failed_jwks_fetch_keeps_the_last_good_keys() -> None:
    now = [0.0]
    fetch = _FakeFetch()
    keys = JwksKeys("http://idp/jwks", ["RS256"], fetch=fetch, clock=lambda: now[0])
    assert await keys.key_for("k1", "RS256") == KEY_1.public_key()
    fetch.fail = True
    now[0] += UNKNOWN_KID_COOLDOWN_S + 1
    assert await keys.key_for("k2", "RS256") is None  # refetch failed...
    assert await keys.key_for("k1", "RS256") == KEY_1.public_key()  # ...the last good set stays


async def test_a_jwks_without_a_key_for_the_issuers_algorithms_keeps_the_last_good_keys() -> None:
    now = [0.0]
    fetch = _FakeFetch()
    keys = JwksKeys("http://idp/jwks", ["RS256"], fetch=fetch, clock=lambda: now[0])
    assert await keys.key_for("k1", "RS256") == KEY_1.public_key()
    fetch.keys = [_jwk(KEY_2, kid="k2", use="enc"), _jwk(EC_SIGNER, kid="k3")]
    now[0] += UNKNOWN_KID_COOLDOWN_S + 1
    assert await keys.key_for("k2", "RS256") is None
    assert await keys.key_for("k1", "RS256") == KEY_1.public_key()


async def test_unknown_kids_refetch_at_most_once_per_cooldown() -> None:
    now = [0.0]
    fetch = _FakeFetch()
    keys = JwksKeys("http://idp/jwks", ["RS256"], fetch=fetch, clock=lambda: now[0])
    await keys.key_for("k1", "RS256")
    for _ in range(20):
        now[0] += 1.5
        assert await keys.key_for("forged-kid", "RS256") is None
    assert fetch.calls == 2  # the first fetch, then one refetch after the 30 s cooldown
    fetch.keys = [_jwk(KEY_1, kid="k1"), _jwk(KEY_2, kid="k2")]
    now[0] += UNKNOWN_KID_COOLDOWN_S
    # a rotated key is picked up after the cooldown
    assert await keys.key_for("k2", "RS256") == KEY_2.public_key()


async def test_tokens_without_kid_do_not_refetch_a_jwks_that_verifies_them() -> None:
    """A token without `kid` that the JWKS's one key verifies is no unknown key: it must not
    make a request wait for a refetch once per cooldown (only the background refresh, every
    REFRESH_INTERVAL_S, fetches again)."""
    hits: list[str] = []
    now = [0.0]
    with serve_app(_jwks_app(RSA_KEY, "rsa-1", hits)) as url:
        source = JwksKeys(f"{url}/jwks.json", ["RS256"], clock=lambda: now[0])
        for _ in range(5):
            assert await source.key_for(None, "RS256") is not None
            now[0] += UNKNOWN_KID_COOLDOWN_S + 1
    assert hits == ["/jwks.json"]


# RFC 8725 3.11, RFC 9068 2.1: a JWT typed for another purpose is no access token. `typ` is a
# media type (RFC 7515 4.1.9): compared case-insensitively, `application/` implied without a `/`.
DEFAULT_TYPES_ACCEPTED = [None, "JWT", "jwt", "application/JWT", "at+jwt", "AT+JWT",
                          "application/at+jwt"]  # fmt: skip
OTHER_TYPES = ["secevent+jwt", "logout+jwt", "dpop+jwt", "application/dpop+jwt", "jwt+at",
               "at+jwt; charset=utf-8", "text/jwt", "", 7, ["at+jwt"]]  # fmt: skip


def _untyped_token() -> str:
    """A token without a `typ` header (PyJWT writes `JWT` unless told not to)."""
    token = jwt.encode(_claims(HMAC_ISS), HMAC_SECRET, algorithm="HS256", headers={"typ": None})
    assert "typ" not in jwt.get_unverified_header(token)
    return token


def _typed_authenticator(token_types: list[str] | None) -> Authenticator:
    issuer: dict[str, Any] = {
        "name": "hmac",
        "issuer": HMAC_ISS,
        "audiences": [AUDIENCE],
        "algorithms": ["HS256"],
        "secret_env": "TEST_SECRET",
    }
    if token_types is not None:
        issuer["token_types"] = token_types
    policy = AuthPolicy.model_validate({"issuers": [issuer]})
    return build_authenticator(policy, Path("."), {"TEST_SECRET": HMAC_SECRET})


def _token_typed(typ: object) -> str:
    """An HS256 token whose header's `typ` is `typ` exactly (PyJWT would drop an empty one)."""
    if typ is None:
        return _untyped_token()
    head = _b64(json.dumps({"alg": "HS256", "typ": typ}).encode())
    body = _b64(json.dumps(_claims(HMAC_ISS)).encode())
    signature = hmac.new(HMAC_SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


@pytest.mark.parametrize("typ", DEFAULT_TYPES_ACCEPTED)
async def test_by_default_an_access_token_typed_jwt_at_jwt_or_untyped_is_accepted(
    typ: str | None,
) -> None:
    principal = await _typed_authenticator(None).authenticate(f"Bearer {_token_typed(typ)}")
    assert principal.client_id == "crm-demo"


@pytest.mark.parametrize("typ", OTHER_TYPES)
async def test_by_default_a_token_typed_for_another_purpose_is_the_generic_401(typ: object) -> None:
    authenticator = _typed_authenticator(None)
    error = await _rejection(authenticator, _token_typed(typ))
    reference = await _rejection(authenticator, "garbage")
    assert (error.code, error.detail, error.headers) == (
        reference.code,
        reference.detail,
        reference.headers,
    )


@pytest.mark.parametrize(
    ("typ", "accepted"),
    [("at+jwt", True), ("AT+JWT", True), ("application/at+jwt", True),
     ("Application/At+Jwt", True), ("JWT", False), (None, False), ("dpop+jwt", False)],
)  # fmt: skip
async def test_an_issuers_token_types_are_the_only_types_accepted(
    typ: str | None, accepted: bool
) -> None:
    authenticator = _typed_authenticator(["at+jwt"])
    token = _token_typed(typ)
    if accepted:
        assert (await authenticator.authenticate(f"Bearer {token}")).client_id == "crm-demo"
    else:
        error = await _rejection(authenticator, token)
        assert error.headers["WWW-Authenticate"] == 'Bearer realm="gateway", error="invalid_token"'


@pytest.mark.parametrize(
    ("token_types", "error"),
    [([], "too_short"), ([""], "string_pattern_mismatch"), (["at jwt"], "string_pattern_mismatch"),
     (["at+jwt/x/y"], "string_pattern_mismatch"), (["/jwt"], "string_pattern_mismatch")],
)  # fmt: skip
def test_token_types_that_are_no_media_types_are_refused_by_the_schema(
    token_types: list[str], error: str
) -> None:
    with pytest.raises(ValidationError) as info:
        _typed_authenticator(token_types)
    assert [(e["loc"][2], e["type"]) for e in info.value.errors()] == [("token_types", error)]


async def test_gateway_token_mints_the_first_of_the_demo_issuers_token_types() -> None:
    authenticator = _typed_authenticator(["at+jwt"])
    issuer = demo_issuer(
        AuthPolicy.model_validate(
            {"issuers": [{"name": "demo", "issuer": HMAC_ISS, "audiences": [AUDIENCE],
                          "algorithms": ["HS256"], "secret_env": "TEST_SECRET",
                          "token_types": ["at+jwt"], "demo": True}]}
        )
    )  # fmt: skip
    token = mint_token(issuer, HMAC_SECRET, "crm-demo")
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"
    assert (await authenticator.authenticate(f"Bearer {token}")).client_id == "crm-demo"


# Why each token was refused, for `gateway_auth_failures_total{reason}` (never for the client).
REASONS = {
    "alg none": AuthFailure.ALGORITHM_NOT_ALLOWED,
    "tampered payload": AuthFailure.BAD_SIGNATURE,
    "wrong iss": AuthFailure.UNKNOWN_ISSUER,
    "wrong aud": AuthFailure.WRONG_AUDIENCE,
    "expired beyond leeway": AuthFailure.EXPIRED,
    "nbf in the future": AuthFailure.NOT_YET_VALID,
    "missing exp": AuthFailure.INVALID_CLAIMS,
    "missing iat": AuthFailure.INVALID_CLAIMS,
    "missing sub": AuthFailure.INVALID_CLAIMS,
    "crit header": AuthFailure.INVALID_CLAIMS,
    "typed for another purpose": AuthFailure.INVALID_CLAIMS,
    "over 8 KiB": AuthFailure.MALFORMED,
    "garbage": AuthFailure.MALFORMED,
    "HS256 signed with the RSA public key": AuthFailure.ALGORITHM_NOT_ALLOWED,
    "unknown kid": AuthFailure.UNKNOWN_KEY,
    "jku pointing elsewhere": AuthFailure.UNKNOWN_KEY,
    "RS256 token for the HMAC issuer": AuthFailure.ALGORITHM_NOT_ALLOWED,
}


@pytest.mark.parametrize("family", list(SIGNERS))
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_each_attack_is_refused_for_the_reason_an_operator_is_shown(
    authenticator: Authenticator, attacker_url: str, family: str, attack: str
) -> None:
    error = await _rejection(authenticator, ATTACKS[attack](family, attacker_url))
    assert isinstance(error, Unauthenticated)
    assert error.reason is REASONS[attack]


@pytest.mark.parametrize("attack", list(SPECIFIC))
async def test_key_confusion_and_injection_are_refused_for_the_reason_an_operator_is_shown(
    authenticator: Authenticator, attacker_url: str, attack: str
) -> None:
    error = await _rejection(authenticator, SPECIFIC[attack](attacker_url))
    assert isinstance(error, Unauthenticated)
    assert error.reason is REASONS[attack]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, AuthFailure.MISSING),
        ("", AuthFailure.MISSING),
        ("Basic dXNlcjpwYXNz", AuthFailure.MALFORMED),
        ("Bearer ", AuthFailure.MALFORMED),
    ],
)
async def test_no_bearer_credentials_are_refused_as_missing_or_malformed(
    authenticator: Authenticator, authorization: str | None, reason: AuthFailure
) -> None:
    with pytest.raises(Unauthenticated) as info:
        await authenticator.authenticate(authorization)
    assert info.value.reason is reason
