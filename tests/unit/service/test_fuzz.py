"""Fuzz the running service from its own OpenAPI document (positive and negative inputs).

The service runs without workers here: generated `file_link`s are arbitrary URLs, and nothing
may ever try to fetch them. Every answer must be documented, match its schema and never be 5xx.

Cases are drawn from schemathesis strategies inside an ordinary test: schemathesis 4.32's lazy
`from_fixture` loader does not work with pytest 9 (it reads a removed `Node._nodeid`), and the
server's URL is only known once the fixture has started it.
"""

from __future__ import annotations

import base64

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from .conftest import APPKEY, APPSECRET

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{APPKEY}:{APPSECRET}".encode()).decode()}


@pytest.fixture(scope="module")
def api_schema(start_service):
    handle, _ = start_service(start_workers=False)
    return handle, schemathesis.openapi.from_url(f"{handle.url}/openapi.json")


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_lists_the_vendor_operations(api_schema):
    _, schema = api_schema
    labels = {op.label for op in _operations(schema)}
    assert {"POST /v3/pic/ecr/batch", "GET /v3/pic/ecr/result/{task_id}"} <= labels


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_generated_input_breaks_the_api(api_schema, mode):
    handle, schema = api_schema
    operations = _operations(schema)
    if mode is GenerationMode.NEGATIVE:
        # Only a body can be made invalid: the other operations take free-form strings or nothing.
        operations = [op for op in operations if op.method.upper() == "POST"]
        assert operations
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case) -> None:
            case.call_and_validate(checks=CHECKS, headers=AUTH)  # past authentication: the validation surface
            case.call_and_validate(checks=CHECKS)  # whatever credentials (or none) were generated

        fuzz()
    # The service is still healthy afterwards.
    assert schemathesis.openapi.from_url(f"{handle.url}/openapi.json") is not None
