"""The schema of `backends/<name>.yaml`: one ERP backend, its connection and its value maps.

Not the adapters' behaviour (see `gateway.adapters`); only what the architects write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import Field

from gateway.config.base import ConfigModel, EnvName

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
        description="The ERP's base URL (http or https); `${VAR:-default}` lets the environment "
        "point it elsewhere.",
    ),
]
TimeoutS = Annotated[
    float,
    Field(
        gt=0,
        le=120,
        description="Seconds for one whole ERP interaction (token or CSRF fetch, write, "
        "read-back), at most 120.",
    ),
]


class PoolConfig(ConfigModel):
    """The pooled keep-alive connections to the ERP (`pool:`), per gateway process."""

    max_connections: Annotated[
        int, Field(ge=1, le=1024, description="Most connections open to the ERP at once.")
    ] = 32
    keepalive_s: Annotated[
        float, Field(gt=0, le=300, description="Seconds an idle connection is kept for reuse.")
    ] = 30.0


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


class SapBackend(ConfigModel):
    """A SAP S/4HANA-style ERP spoken to over OData v2."""

    kind: Annotated[
        Literal["sap-odata-v2"],
        Field(description="The ERP kind: `sap-odata-v2` or `netsuite-rest`."),
    ]
    base_url: BaseUrl
    sap_client: Annotated[
        str,
        Field(pattern=r"^[0-9]{3}$", description="The SAP client (3 digits), sent as sap-client."),
    ] = "100"
    credentials: Annotated[
        SapCredentials, Field(description="Where the ERP credentials come from.")
    ]
    timeout_s: TimeoutS = 10.0
    pool: Annotated[PoolConfig, Field(description="The connection pool to the ERP.")] = PoolConfig()
    max_response_bytes: ResponseCap = DEFAULT_MAX_RESPONSE_BYTES
    value_maps: Annotated[SapValueMaps, Field(description="Canonical codes -> this ERP's keys.")]


class NetSuiteLegalEntity(ConfigModel):
    """Where one legal entity lives in NetSuite: its subsidiary and currency."""

    subsidiary: Annotated[
        str, Field(min_length=1, description="The NetSuite subsidiary's internal id.")
    ]
    currency: Annotated[
        str, Field(min_length=1, description="The internal id of the subsidiary's currency.")
    ]


class NetSuiteCredentials(ConfigModel):
    """The names of the environment variables holding the OAuth client; never the secrets."""

    client_id_env: Annotated[
        EnvName, Field(description="The environment variable holding the OAuth client id.")
    ]
    client_secret_env: Annotated[
        EnvName, Field(description="The environment variable holding the OAuth client secret.")
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
        dict[str, str], Field(description="ISO 4217 code -> currency internal id.")
    ]


class NetSuiteBackend(ConfigModel):
    """A NetSuite-style ERP spoken to over REST records with OAuth 2.0 client credentials."""

    kind: Annotated[
        Literal["netsuite-rest"],
        Field(description="The ERP kind: `sap-odata-v2` or `netsuite-rest`."),
    ]
    base_url: BaseUrl
    token_path: Annotated[
        str, Field(description="The OAuth 2.0 token endpoint's path under base_url.")
    ] = "/services/rest/auth/oauth2/v1/token"
    credentials: Annotated[
        NetSuiteCredentials, Field(description="Where the ERP credentials come from.")
    ]
    timeout_s: TimeoutS = 10.0
    pool: Annotated[PoolConfig, Field(description="The connection pool to the ERP.")] = PoolConfig()
    max_response_bytes: ResponseCap = DEFAULT_MAX_RESPONSE_BYTES
    value_maps: Annotated[
        NetSuiteValueMaps, Field(description="Canonical codes -> this ERP's internal ids.")
    ]


BackendConfig = Annotated[SapBackend | NetSuiteBackend, Field(discriminator="kind")]


def credential_variables(backend: SapBackend | NetSuiteBackend) -> tuple[str, ...]:
    """The environment variables a backend's credentials are read from, in the file's order."""
    if isinstance(backend, SapBackend):
        return (backend.credentials.username_env, backend.credentials.password_env)
    return (backend.credentials.client_id_env, backend.credentials.client_secret_env)


def credentials_from(
    name: str, backend: SapBackend | NetSuiteBackend, env: Mapping[str, str]
) -> tuple[str, ...]:
    """The backend's credential values from `env`; ValueError naming every one not set."""
    variables = credential_variables(backend)
    missing = [v for v in variables if not env.get(v)]
    if missing:
        raise ValueError(f"backend {name}: environment variable(s) not set: {', '.join(missing)}")
    return tuple(env[v] for v in variables)
