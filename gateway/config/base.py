"""The one base of every configuration model: unknown keys refused, values frozen after load.

Not the API's request models (see `gateway.domain.models`, which are strict about JSON types).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class ConfigModel(BaseModel):
    """A model mirroring part of a YAML file: a misspelt key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


EnvName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
"""The name of an environment variable that holds a secret (the secret is never in a file)."""
