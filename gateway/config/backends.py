"""The schema of `backends/<name>.yaml`: one ERP backend, its connection and its value maps.

Not the adapters' behaviour (see `gateway.adapters`); only what the architects write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gateway.config.base import ConfigModel, EnvName
from gateway.config.events import BackendEvents
from gateway.domain.models import CurrencyCode

SAP_KIND = "sap-odata-v2"
NETSUITE_KIND = "netsuite-rest"
# An ERP's answer is held whole to be parsed, so its size is capped (after decompression): the
# largest order with all its items is a few hundred KiB; a runaway answer or a gzip bomb must
# not take the gateway's memory.
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
ResponseCap = Annotated[
    int,
    Field(
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="The largest ERP answer read, in bytes after decompression (64 KiB to "
        "256 MiB); beyond it the answer is 502 erp_bad_response.",
    ),
]

BaseUrl = Annotated[
    str,
    Field(
        pattern=r"^https?://",
        description="The ERP's base URL (https; plain http to another host than this one is "
        "warned of); `${VAR:-default}` lets the environment point it elsewhere.",
    ),
]
TimeoutS = Annotated[
    float,
    Field(
        gt=0,
        le=120,
        description="Seconds for one whole ERP interaction (token or CSRF fetch, write, "
        "read-back, retries), at most 120; below the request timeout (policies/operations.yaml "
        "requests.timeout_s), which otherwise ends it first (`gateway check` warns).",
    ),
]


DEFAULT_CONNECT_TIMEOUT_S = 2.0
ConnectTimeoutS = Annotated[
    float | None,
    Field(
        gt=0,
        le=60,
        description="Seconds to open a connection to the ERP (at most timeout_s; default 2, or "
        "timeout_s if shorter): a refused or unanswered connect fails fast and, never having "
        "reached the ERP, may be retried.",
    ),
]
ReadTimeoutS = Annotated[
    float | None,
    Field(
        gt=0,
        le=120,
        description="Seconds the ERP may stay silent while answering one HTTP request (at most "
        "timeout_s, its default); the whole interaction stays within timeout_s and the "
        "request's deadline.",
    ),
]


class RetryPolicy(ConfigModel):
    """Retries of one HTTP request to the ERP (`retries:`), only where it is safe: reads, and
    writes that never reached the ERP (a refused connection). An ambiguous write is never
    retried here; the idempotency layer reconciles it instead. Each retry spends a request of
    the backend's budget and happens only if it fits in the request's deadline."""

    attempts: Annotated[
        int,
        Field(ge=1, le=10, description="Tries of one HTTP request in all (1: never retried)."),
    ] = 3
    backoff_s: Annotated[
        float,
        Field(
            gt=0,
            le=10,
            description="Base of the exponential backoff: the n-th retry waits a random time "
            "up to backoff_s * 2^(n-1) (full jitter), at most max_backoff_s.",
        ),
    ] = 0.05
    max_backoff_s: Annotated[
        float, Field(gt=0, le=60, description="The longest wait before one retry.")
    ] = 1.0

    @field_validator("max_backoff_s")
    @classmethod
    def _not_below_backoff(cls, value: float, info: ValidationInfo) -> float:
        backoff = info.data.get("backoff_s")
        if backoff is not None and value < backoff:
            raise ValueError(f"below backoff_s ({backoff:g}), the first retry's longest wait")
        return value


class BreakerPolicy(ConfigModel):
    """The circuit breaker of this backend (`breaker:`), per gateway process: after `failures`
    technical failures in a row the gateway stops calling the ERP and answers 503
    erp_unavailable at once; after `cool_down_s` one trial request goes through, and its
    outcome closes the breaker or opens it again."""

    enabled: Annotated[bool, Field(description="Whether the breaker protects this ERP.")] = True
    failures: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Technical failures in a row (timeouts, unreachable, 5xx, unreadable "
            "answers; never business rejections) that open the breaker.",
        ),
    ] = 5
    cool_down_s: Annotated[
        float,
        Field(
            gt=0,
            le=3600,
            description="Seconds the breaker stays open before it lets one trial request through.",
        ),
    ] = 30.0


class PoolConfig(ConfigModel):
    """The pooled keep-alive connections to the ERP (`pool:`), per gateway process."""

    max_connections: Annotated[
        int, Field(ge=1, le=1024, description="Most connections open to the ERP at once.")
    ] = 32
    keepalive_s: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="Seconds an idle connection is kept for reuse; keep it below the ERP's "
            "own idle timeout, or a request may go out on a connection the ERP is closing.",
        ),
    ] = 30.0


class BackendConnection(ConfigModel):
    """What every backend kind shares: where the ERP is and how the gateway talks to it."""

    base_url: BaseUrl
    timeout_s: TimeoutS = 10.0
    connect_timeout_s: ConnectTimeoutS = None
    read_timeout_s: ReadTimeoutS = None
    pool: Annotated[PoolConfig, Field(description="The connection pool to the ERP.")] = PoolConfig()
    max_response_bytes: ResponseCap = DEFAULT_MAX_RESPONSE_BYTES
    retries: Annotated[
        RetryPolicy, Field(description="Retries of one HTTP request, only where safe.")
    ] = RetryPolicy()
    breaker: Annotated[
        BreakerPolicy, Field(description="The circuit breaker that stops calling a failing ERP.")
    ] = BreakerPolicy()
    events: Annotated[
        BackendEvents | None,
        Field(
            description="How the ERP's changes reach the gateway (domain events); "
            "absent: not at all."
        ),
    ] = None
    sandbox: Annotated[
        bool,
        Field(
            description="A sandbox account, not production: shadow writes may be sent here "
            "(`gateway check` refuses them into any other backend but the legacy ERP's "
            "sales-order simulation)."
        ),
    ] = False
    system: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9][a-z0-9_-]*$",
            description="The backend whose ERP this one reaches, when it is not its own: a "
            "sandbox account names its production backend. Shadow compares never compare an "
            "ERP with itself. Default: the backend itself; for a sandbox, the one production "
            "backend of its kind.",
        ),
    ] = None

    @property
    def connect_timeout(self) -> float:
        """Seconds to connect: `connect_timeout_s`, by default 2 s or `timeout_s` if shorter."""
        if self.connect_timeout_s is None:
            return min(DEFAULT_CONNECT_TIMEOUT_S, self.timeout_s)
        return self.connect_timeout_s

    @property
    def read_timeout(self) -> float:
        """Seconds the ERP may stay silent: `read_timeout_s`, by default `timeout_s`."""
        return self.timeout_s if self.read_timeout_s is None else self.read_timeout_s

    @field_validator("connect_timeout_s", "read_timeout_s")
    @classmethod
    def _within_whole(cls, value: float | None, info: ValidationInfo) -> float | None:
        whole = info.data.get("timeout_s")
        if value is not None and whole is not None and value > whole:
            raise ValueError(f"above timeout_s ({whole:g}), the whole interaction's limit")
        return value


class SapLegalEntity(ConfigModel):
    """Where one legal entity lives in SAP: its company code and sales area."""

    company_code: Annotated[
        str, Field(min_length=4, max_length=4, description="The SAP company code (4 characters).")
    ]
    sales_organization: Annotated[
        str,
        Field(min_length=4, max_length=4, description="The SAP sales organization (4 characters)."),
    ]
    distribution_channel: Annotated[
        str,
        Field(
            min_length=2, max_length=2, description="The SAP distribution channel (2 characters)."
        ),
    ] = "10"
    division: Annotated[
        str, Field(min_length=2, max_length=2, description="The SAP division (2 characters).")
    ] = "00"
    sales_order_type: Annotated[
        str,
        Field(min_length=1, max_length=4, description="The SAP sales document type of its orders."),
    ] = "OR"


class SapCredentials(ConfigModel):
    """The names of the environment variables holding the ERP user; never the secrets."""

    username_env: Annotated[
        EnvName, Field(description="The environment variable holding the SAP user name.")
    ]
    password_env: Annotated[
        EnvName, Field(description="The environment variable holding the SAP password.")
    ]


class SapValueMaps(ConfigModel):
    """Canonical codes -> this SAP system's keys."""

    legal_entities: Annotated[
        dict[str, SapLegalEntity],
        Field(description="Legal entity code -> company code and sales area."),
    ]
    payment_terms: Annotated[
        dict[str, Annotated[str, Field(min_length=4, max_length=4)]],
        Field(description="Canonical payment terms (e.g. NET30) -> SAP 4-character key."),
    ]
    skus: Annotated[
        dict[str, Annotated[str, Field(min_length=1, max_length=40)]],
        Field(description="Canonical SKU -> SAP material number."),
    ]


class SapBackend(BackendConnection):
    """A SAP S/4HANA-style ERP spoken to over OData v2."""

    kind: Annotated[
        Literal["sap-odata-v2"],
        Field(description="The ERP kind: `sap-odata-v2` or `netsuite-rest`."),
    ]
    sap_client: Annotated[
        str,
        Field(pattern=r"^[0-9]{3}$", description="The SAP client (3 digits), sent as sap-client."),
    ] = "100"
    credentials: Annotated[
        SapCredentials, Field(description="Where the ERP credentials come from.")
    ]
    value_maps: Annotated[SapValueMaps, Field(description="Canonical codes -> this ERP's keys.")]


class NetSuiteLegalEntity(ConfigModel):
    """Where one legal entity lives in NetSuite: its subsidiary and currency."""

    subsidiary: Annotated[
        str, Field(min_length=1, description="The NetSuite subsidiary's internal id.")
    ]
    currency: Annotated[
        str, Field(min_length=1, description="The internal id of the subsidiary's currency.")
    ]


class NetSuiteClientCredentials(ConfigModel):
    """OAuth 2.0 client credentials (machine to machine), NetSuite's default for new
    integrations: a JWT assertion signed with the private key of a certificate mapped to the
    integration. NetSuite takes no client secret. Secrets come from the environment or a file,
    never from this file."""

    method: Annotated[
        Literal["client_credentials"],
        Field(description="`client_credentials` (OAuth 2.0) or `token_based` (OAuth 1.0a TBA)."),
    ]
    client_id_env: Annotated[
        EnvName,
        Field(
            description="The environment variable holding the integration record's client ID "
            "(its consumer key): the assertion's `iss`."
        ),
    ]
    certificate_id: Annotated[
        str | None,
        Field(
            min_length=1,
            description="The certificate ID NetSuite shows for the mapped certificate (Setup > "
            "Integration > OAuth 2.0 Client Credentials (M2M) Setup): the assertion's `kid`. "
            "Or `certificate_id_env`.",
        ),
    ] = None
    certificate_id_env: Annotated[
        EnvName | None,
        Field(description="The environment variable holding the certificate ID, instead."),
    ] = None
    private_key_env: Annotated[
        EnvName | None,
        Field(
            description="The environment variable holding the certificate's private key (PEM, "
            "unencrypted). Or `private_key_file`."
        ),
    ] = None
    private_key_file: Annotated[
        str | None,
        Field(
            min_length=1,
            description="A file holding the certificate's private key (PEM, unencrypted), e.g. "
            "a mounted secret; a relative path is relative to the configuration directory.",
        ),
    ] = None
    algorithm: Annotated[
        Literal["PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
        Field(
            description="How the assertion is signed: PS* with an RSA key, ES256/ES384/ES512 "
            "with an EC key on P-256/P-384/P-521."
        ),
    ] = "PS256"
    scopes: Annotated[
        list[Literal["rest_webservices", "restlets", "suite_analytics"]],
        Field(
            min_length=1,
            description="The scopes asked for; the integration must have them. The adapter "
            "needs `rest_webservices`.",
        ),
    ] = ["rest_webservices"]

    @model_validator(mode="after")
    def _one_source_each(self) -> NetSuiteClientCredentials:
        if (self.certificate_id is None) == (self.certificate_id_env is None):
            raise ValueError("exactly one of certificate_id, certificate_id_env is required")
        if (self.private_key_env is None) == (self.private_key_file is None):
            raise ValueError("exactly one of private_key_env, private_key_file is required")
        if "rest_webservices" not in self.scopes:
            raise ValueError("scopes must include rest_webservices (the REST record API)")
        return self

    def variables(self) -> tuple[str, ...]:
        named = (self.client_id_env, self.certificate_id_env, self.private_key_env)
        return tuple(v for v in named if v)


class NetSuiteTokenBased(ConfigModel):
    """Token-based authentication (OAuth 1.0a, HMAC-SHA256): every request signed with the
    integration's consumer key and secret and an access token's id and secret, all four from
    the environment."""

    method: Annotated[
        Literal["token_based"],
        Field(description="`client_credentials` (OAuth 2.0) or `token_based` (OAuth 1.0a TBA)."),
    ]
    account_id: Annotated[
        str,
        Field(
            pattern=r"^[A-Z0-9_]+$",
            description="The NetSuite account ID, the signature's realm, in upper case with "
            "its sandbox suffix if any (e.g. 1234567_SB1).",
        ),
    ]
    consumer_key_env: Annotated[
        EnvName, Field(description="The environment variable holding the consumer key.")
    ]
    consumer_secret_env: Annotated[
        EnvName, Field(description="The environment variable holding the consumer secret.")
    ]
    token_id_env: Annotated[
        EnvName, Field(description="The environment variable holding the access token's ID.")
    ]
    token_secret_env: Annotated[
        EnvName,
        Field(description="The environment variable holding the access token's secret."),
    ]

    def variables(self) -> tuple[str, ...]:
        return (
            self.consumer_key_env,
            self.consumer_secret_env,
            self.token_id_env,
            self.token_secret_env,
        )


NetSuiteAuth = Annotated[
    NetSuiteClientCredentials | NetSuiteTokenBased, Field(discriminator="method")
]


class NetSuiteValueMaps(ConfigModel):
    """Canonical codes -> this NetSuite account's internal ids."""

    legal_entities: Annotated[
        dict[str, NetSuiteLegalEntity],
        Field(description="Legal entity code -> subsidiary and currency internal ids."),
    ]
    payment_terms: Annotated[
        dict[str, str], Field(description="Canonical payment terms -> term internal id.")
    ]
    skus: Annotated[dict[str, str], Field(description="Canonical SKU -> item internal id.")]
    currencies: Annotated[
        dict[CurrencyCode, str],
        Field(description="ISO 4217 code -> currency internal id."),
    ]


class NetSuiteBackend(BackendConnection):
    """A NetSuite-style ERP spoken to over REST records, logged in with OAuth 2.0 client
    credentials or token-based authentication."""

    kind: Annotated[
        Literal["netsuite-rest"],
        Field(description="The ERP kind: `sap-odata-v2` or `netsuite-rest`."),
    ]
    token_path: Annotated[
        str,
        Field(
            description="The OAuth 2.0 token endpoint's path under base_url (client "
            "credentials only); its URL is the assertion's `aud`."
        ),
    ] = "/services/rest/auth/oauth2/v1/token"
    auth: Annotated[
        NetSuiteAuth,
        Field(
            description="How the gateway logs in: `method: client_credentials` (a "
            "certificate-signed JWT assertion) or `method: token_based` (OAuth 1.0a)."
        ),
    ]
    value_maps: Annotated[
        NetSuiteValueMaps, Field(description="Canonical codes -> this ERP's internal ids.")
    ]

    @model_validator(mode="before")
    @classmethod
    def _no_client_secret(cls, data: object) -> object:
        if isinstance(data, dict) and "credentials" in data and "auth" not in data:
            raise ValueError(
                "`credentials` (a client id and secret) is gone: NetSuite takes no client "
                "secret. Write `auth:` with `method: client_credentials` (a certificate) or "
                "`method: token_based` (TBA); see README, Configuration files"
            )
        return data


BackendConfig = Annotated[SapBackend | NetSuiteBackend, Field(discriminator="kind")]


def production_by_kind(
    backends: Mapping[str, SapBackend | NetSuiteBackend],
) -> dict[str, list[str]]:
    """The backends that are no sandbox, by kind."""
    production: dict[str, list[str]] = {}
    for name, backend in backends.items():
        if not backend.sandbox:
            production.setdefault(backend.kind, []).append(name)
    return production


def erp_systems(backends: Mapping[str, SapBackend | NetSuiteBackend]) -> dict[str, str]:
    """The ERP each backend reaches, named by a backend: its `system`; else, for a sandbox, the
    one production backend of its kind (if there is exactly one); else the backend itself. Two
    backends of one kind are two ERPs unless one says otherwise (an SAP ECC and an S/4HANA)."""
    production = production_by_kind(backends)
    systems = {}
    for name, backend in backends.items():
        if backend.system is not None:
            systems[name] = backend.system
        elif backend.sandbox and len(production.get(backend.kind, ())) == 1:
            systems[name] = production[backend.kind][0]
        else:
            systems[name] = name
    return systems


def credential_variables(backend: SapBackend | NetSuiteBackend) -> tuple[str, ...]:
    """The environment variables a backend's credentials are read from, in the file's order."""
    if isinstance(backend, SapBackend):
        return (backend.credentials.username_env, backend.credentials.password_env)
    return backend.auth.variables()


def key_file_login(backend: BackendConfig | None) -> NetSuiteClientCredentials | None:
    """The login of a backend whose adapter signs with a private key file (read when the
    adapter is built), if it does: a NetSuite backend's with `private_key_file`."""
    if isinstance(backend, NetSuiteBackend) and isinstance(backend.auth, NetSuiteClientCredentials):
        return backend.auth if backend.auth.private_key_file else None
    return None


def signing_key_file(backend: BackendConfig | None) -> str | None:
    """The private key file a backend's adapter signs with, if it names one."""
    login = key_file_login(backend)
    return login.private_key_file if login is not None else None


def credentials_from(
    name: str, backend: SapBackend | NetSuiteBackend, env: Mapping[str, str]
) -> tuple[str, ...]:
    """The backend's credential values from `env`; ValueError naming every one not set."""
    variables = credential_variables(backend)
    missing = [v for v in variables if not env.get(v)]
    if missing:
        raise ValueError(f"backend {name}: environment variable(s) not set: {', '.join(missing)}")
    return tuple(env[v] for v in variables)
