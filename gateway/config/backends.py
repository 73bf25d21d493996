"""The schema of `backends/<name>.yaml`: one ERP backend, its connection and its value maps.

Not the adapters' behaviour (see `gateway.adapters`); only what the architects write.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gateway.config.base import ConfigModel, EnvName

SAP_KIND = "sap-odata-v2"
NETSUITE_KIND = "netsuite-rest"
# An ERP's answer is held whole to be parsed, so its size is capped (after decompression): the
# largest order with all its items is a few hundred KiB; a runaway answer or a gzip bomb must
# not take the gateway's memory.
DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
ResponseCap = Annotated[int, Field(ge=64 * 1024, le=256 * 1024 * 1024)]


class PoolConfig(ConfigModel):
    max_connections: Annotated[int, Field(ge=1, le=1024)] = 32
    keepalive_s: Annotated[float, Field(gt=0, le=300)] = 30.0


class SapLegalEntity(ConfigModel):
    company_code: Annotated[str, Field(min_length=4, max_length=4)]
    sales_organization: Annotated[str, Field(min_length=4, max_length=4)]
    distribution_channel: Annotated[str, Field(min_length=2, max_length=2)] = "10"
    division: Annotated[str, Field(min_length=2, max_length=2)] = "00"
    sales_order_type: Annotated[str, Field(min_length=1, max_length=4)] = "OR"


class SapCredentials(ConfigModel):
    username_env: EnvName
    password_env: EnvName


class SapValueMaps(ConfigModel):
    legal_entities: dict[str, SapLegalEntity]
    payment_terms: dict[str, Annotated[str, Field(min_length=4, max_length=4)]]
    skus: dict[str, Annotated[str, Field(min_length=1, max_length=40)]]


class SapBackend(ConfigModel):
    kind: Literal["sap-odata-v2"]
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    sap_client: Annotated[str, Field(pattern=r"^\d{3}$")] = "100"
    credentials: SapCredentials
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    pool: PoolConfig = PoolConfig()
    max_response_bytes: ResponseCap = DEFAULT_MAX_RESPONSE_BYTES
    value_maps: SapValueMaps


class NetSuiteLegalEntity(ConfigModel):
    subsidiary: Annotated[str, Field(min_length=1)]
    currency: Annotated[str, Field(min_length=1)]


class NetSuiteCredentials(ConfigModel):
    client_id_env: EnvName
    client_secret_env: EnvName


class NetSuiteValueMaps(ConfigModel):
    legal_entities: dict[str, NetSuiteLegalEntity]
    payment_terms: dict[str, str]
    skus: dict[str, str]
    currencies: dict[str, str]


class NetSuiteBackend(ConfigModel):
    kind: Literal["netsuite-rest"]
    base_url: Annotated[str, Field(pattern=r"^https?://")]
    token_path: str = "/services/rest/auth/oauth2/v1/token"
    credentials: NetSuiteCredentials
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    pool: PoolConfig = PoolConfig()
    max_response_bytes: ResponseCap = DEFAULT_MAX_RESPONSE_BYTES
    value_maps: NetSuiteValueMaps


BackendConfig = Annotated[SapBackend | NetSuiteBackend, Field(discriminator="kind")]
