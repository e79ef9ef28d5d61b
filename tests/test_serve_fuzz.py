"""Fuzzing the REST API from its own OpenAPI schema (schemathesis): no input may get a 5xx answer, and every
answer must be one the schema describes (status code, content type, headers, body)."""

import json
import math

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import running
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from cgan.serve import create_app

# Enough to reach every field of every operation, well within a minute on 2 cores.
EXAMPLES_PER_OPERATION = 100
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same cases on every run, so a failure here is never a fluke
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture(scope="module")
def api_schema():
    with running(create_app()) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


# Positive cases follow the schema and reach the generators; negative ones break it in every field and
# must be refused with a 4xx.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_every_answer_is_one_the_schema_describes(api_schema, mode):
    # Hypothesis runs one property per operation here: schemathesis's own lazy pytest loader
    # (schemathesis.pytest.from_fixture) does not run under pytest 9.
    checks = CONFORMANCE + ([negative_data_rejection] if mode is GenerationMode.NEGATIVE else [])
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # GET /models and /health take no input to break

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ
        def conforms(case):
            case.call_and_validate(checks=checks)

        conforms()


def number_fields(api_schema, path: str) -> list[str]:
    """The fields of an operation's request body that take a number."""
    body = api_schema.raw_schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return sorted(name for name, field in body["schema"]["properties"].items() if '"integer"' in json.dumps(field))


# JSON has no NaN or Infinity, but Python's and pydantic's parsers read them: each must get a documented 422.
@pytest.mark.parametrize("path", ["/generate", "/gen_images", "/interpolate"])
def test_nan_and_infinity_in_any_number_field_get_a_documented_422(api_schema, path):
    fields = number_fields(api_schema, path)
    assert {"seed", "scale" if path != "/gen_images" else "grid_size"} <= set(fields)
    operation = api_schema[path]["POST"]

    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        field=st.sampled_from(fields),
        value=st.sampled_from([math.nan, math.inf, -math.inf]),
    )
    @settings(FUZZ, max_examples=30)
    def refused(case, field, value):
        case.body = json.dumps({**case.body, field: value}).encode()  # as Python writes them: NaN, Infinity
        response = case.call_and_validate(checks=CONFORMANCE)
        assert response.status_code == 422, response.text

    refused()
