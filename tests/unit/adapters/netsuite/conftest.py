"""The NetSuite value maps of the shipped `backends/cloud.yaml`, for the mapping tests."""

from __future__ import annotations

import pytest
import yaml

from gateway.adapters.netsuite.value_maps import NetSuiteMaps
from gateway.config.backends import NetSuiteValueMaps
from tests.unit.adapters.netsuite.samples import REPO


@pytest.fixture(scope="module")
def maps() -> NetSuiteMaps:
    raw = yaml.safe_load((REPO / "backends" / "cloud.yaml").read_text())
    return NetSuiteMaps.from_config(NetSuiteValueMaps.model_validate(raw["value_maps"]))
