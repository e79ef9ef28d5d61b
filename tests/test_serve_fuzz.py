"""Fuzzing the REST API from its own OpenAPI schema (schemathesis): no input may get a 5xx answer."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from live_server import running
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from cgan.serve import create_app

# Enough to reach every field of every operation, well within a minute on 2 cores.
EXAMPLES_PER_OPERATION = 100


@pytest.fixture(scope="module")
def api_schema():
    with running(create_app()) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


# Positive cases follow the schema and reach the generators; negative ones break it in every field.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_input_gets_a_server_error(api_schema, mode):
    # Hypothesis runs one property per operation here: schemathesis's own lazy pytest loader
    # (schemathesis.pytest.from_fixture) does not run under pytest 9.
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # GET /models and /health take no input to break

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,  # the same cases on every run, so a failure here is never a fluke
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def no_server_error(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
